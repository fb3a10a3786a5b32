"""Load test of the service over loopback (``make bench-serve``; not a test: timings depend on the machine).

    python -m recutils.bench.serve [--artifacts artifacts] [--requests 2000] [--concurrency 32]

Starts ``python -m recutils.serving`` on a free loopback port (the artifacts folder as
``make serve`` uses it), then measures

1. one request at a time (``--single`` requests per endpoint, after a warm-up): p50 / p95 of
   ``/user_recommend`` per loaded model, a title query, a TF-IDF prompt, and — from a second
   server started with ``--search dense`` — a dense prompt (query encoding included);
2. ``--requests`` mixed requests (half ``/user_recommend`` over random users and the loaded
   models, a quarter titles, a quarter TF-IDF prompts) with ``--concurrency`` in flight:
   errors, requests/s, p50 / p95 / p99;
3. the servers' peak RSS (``VmHWM``).

Everything is bounded: the request counts, and ``--max-seconds`` for the whole run (the
servers are stopped whatever happens). The client is a small asyncio HTTP/1.1 keep-alive
client (one connection per in-flight request), so it costs the 2-core machine little.
Prints a Markdown table and writes ``--json`` (default ``reports/bench_serve.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

PROMPTS = [
    "a heist movie in las vegas", "space adventure with robots", "romantic comedy in new york",
    "dark psychological thriller", "animated movie for kids about friendship", "world war two drama",
    "zombie apocalypse horror", "coming of age story in high school", "time travel science fiction",
    "mafia crime family", "superhero origin story", "documentary about music", "courtroom drama",
    "road trip with friends", "detective solving a murder mystery", "martial arts action",
    "a sad movie about cancer", "vampires in a small town", "political conspiracy", "sports underdog story",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m recutils.serving`` on loopback; stopped on exit."""

    def __init__(self, args: list[str], timeout: float):
        self.port = free_port()
        self.log = open(os.devnull, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "recutils.serving", "--host", "127.0.0.1",
                                      "--port", str(self.port), *args], stdout=self.log, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() - t0 > timeout:
                    self.stop()
                    raise SystemExit(f"the service did not start within {timeout:.0f} s: "
                                     f"python -m recutils.serving {' '.join(args)}")
                time.sleep(0.2)
        self.startup_seconds = time.monotonic() - t0

    def peak_rss_mb(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int):
        self.port = port
        self.r = self.w = None

    async def get(self, path: str) -> tuple[int, bytes]:
        """One GET; a kept-alive connection the server has closed meanwhile (uvicorn closes idle
        ones after 5 s) is reopened and the request sent once more, as HTTP clients do."""
        for _ in (0, 1):
            fresh = self.w is None
            if fresh:
                self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                return await self._get(path)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                self.close()
                if fresh or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                    raise
        raise AssertionError("unreachable")

    async def _get(self, path: str) -> tuple[int, bytes]:
        self.w.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await self.w.drain()
        head = await self.r.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for h in lines[1:]:
            if h.lower().startswith("content-length:"):
                length = int(h.split(":", 1)[1])
        body = await self.r.readexactly(length)
        return status, body

    def close(self):
        if self.w is not None:
            self.w.close()
            self.w = None


async def _run(port: int, paths: list[str], concurrency: int, deadline: float):
    """Send ``paths`` with ``concurrency`` in flight; (latencies ms, n errors, seconds, error samples)."""
    queue = list(reversed(paths))
    lat, errors, samples = [], 0, []

    async def worker():
        nonlocal errors
        conn = Conn(port)
        while queue and time.monotonic() < deadline:
            p = queue.pop()
            t0 = time.perf_counter()
            try:
                status, body = await conn.get(p)
                ok = status == 200
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                ok, status, body = False, None, repr(exc).encode()
                conn.close()
                conn = Conn(port)
            lat.append((time.perf_counter() - t0) * 1000)
            if not ok:
                errors += 1
                if len(samples) < 5:
                    samples.append(f"{p} -> {status}: {body[:200]!r}")
        conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return np.asarray(lat), errors + len(queue), time.perf_counter() - t0, samples


def run(port, paths, concurrency, deadline):
    return asyncio.run(_run(port, paths, concurrency, deadline))


def _pct(ms: np.ndarray) -> dict:
    if not len(ms):
        return {"p50": None, "p95": None, "p99": None}
    return {f"p{q}": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)}


def typo(rng, title: str) -> str:
    """``title`` with one letter (not the first) dropped: "the matrix" → "the matix"."""
    letters = [i for i, c in enumerate(title) if c.isalpha() and i > 0]
    if not letters:
        return title
    i = int(rng.choice(letters))
    return title[:i] + title[i + 1:]


def workload(rng, users, models, titles, n: int) -> list[str]:
    """``n`` mixed request paths: 1/2 user_recommend, 1/4 title (half of them with a typo,
    which the exact-title short cut cannot answer), 1/4 TF-IDF prompt."""
    out = []
    for kind in rng.choice(4, size=n):
        if kind < 2:
            out.append(f"/user_recommend/{rng.choice(users)}?k=10&model={rng.choice(models)}")
        elif kind == 2:
            t = str(rng.choice(titles))
            out.append(f"/title-or-prompt?q={quote(typo(rng, t) if rng.random() < 0.5 else t)}&k=10&mode=auto")
        else:
            out.append(f"/title-or-prompt?q={quote(str(rng.choice(PROMPTS)))}&k=10&mode=prompt")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recutils.bench.serve", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--models", default=None, help="passed to the service (default: its own)")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--single", type=int, default=200, help="sequential requests per endpoint")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense-prompt server")
    ap.add_argument("--max-seconds", type=float, default=300.0, help="bound on the whole run")
    ap.add_argument("--json", default="reports/bench_serve.json")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if not (1 <= a.requests <= 100_000 and 1 <= a.concurrency <= 256 and 1 <= a.single <= 10_000):
        ap.error("--requests 1..100000, --concurrency 1..256, --single 1..10000")
    deadline = time.monotonic() + a.max_seconds
    rng = np.random.default_rng(a.seed)
    base = ["--artifacts", a.artifacts] + (["--models", a.models] if a.models else [])
    result = {"requests": a.requests, "concurrency": a.concurrency, "single": a.single,
              "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    srv = Server(base, timeout=max(5.0, deadline - time.monotonic()))
    try:
        import urllib.request

        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/health").read())
        result["startup_seconds"] = srv.startup_seconds
        result["server_startup_seconds"] = health["startup_seconds"]
        result["sources"] = {n: m["source"] for n, m in health["models"].items()}
        models = list(health["models"])
        lo, hi = health["user_id_range"]
        users = np.arange(lo, hi + 1)
        from ..datasets import movie_table

        mv = movie_table()
        titles = mv.sort_values("vote_count", ascending=False)["clean_title"].str.lower().head(300).tolist() \
            if "vote_count" in mv else mv["clean_title"].str.lower().head(300).tolist()
        single = {}
        for m in models:
            single[f"user_recommend ({m})"] = [f"/user_recommend/{u}?k=10&model={m}" for u in rng.choice(users, a.single)]
        single["title (similar movies)"] = [f"/title-or-prompt?q={quote(t)}&k=10&mode=auto" for t in rng.choice(titles, a.single)]
        single["title with a typo (fuzzy match)"] = [f"/title-or-prompt?q={quote(typo(rng, t))}&k=10&mode=auto"
                                                     for t in rng.choice(titles, a.single)]
        single["prompt, TF-IDF"] = [f"/title-or-prompt?q={quote(p)}&k=10&mode=prompt" for p in rng.choice(PROMPTS, a.single)]
        rows = {}
        for name, paths in single.items():
            run(srv.port, paths[:10], 1, deadline)  # warm-up
            ms, err, _, samples = run(srv.port, paths, 1, deadline)
            rows[name] = {**_pct(ms), "n": int(len(ms)), "errors": err, "error_samples": samples}
        mixed = workload(rng, users, models, titles, a.requests)
        run(srv.port, mixed[:50], 8, deadline)  # warm-up
        ms, err, secs, samples = run(srv.port, mixed, a.concurrency, deadline)
        result["mixed"] = {**_pct(ms), "n": int(len(ms)), "errors": err, "seconds": round(secs, 2),
                           "requests_per_second": round(len(ms) / secs, 1) if secs else None, "error_samples": samples}
        result["peak_rss_mb"] = srv.peak_rss_mb()
    finally:
        srv.stop()
    if not a.no_dense and time.monotonic() < deadline:
        dsrv = Server(base + ["--search", "dense"], timeout=max(5.0, deadline - time.monotonic()))
        try:
            paths = [f"/title-or-prompt?q={quote(p)}&k=10&mode=prompt" for p in rng.choice(PROMPTS, a.single)]
            run(dsrv.port, paths[:10], 1, deadline)
            ms, err, _, samples = run(dsrv.port, paths, 1, deadline)
            rows["prompt, dense (MiniLM, encoding included)"] = {**_pct(ms), "n": int(len(ms)), "errors": err,
                                                                  "error_samples": samples}
            result["peak_rss_mb_dense_server"] = dsrv.peak_rss_mb()
        finally:
            dsrv.stop()
    result["single_request"] = rows
    result["load_after"] = os.getloadavg()
    if time.monotonic() > deadline:
        result["stopped_at_deadline"] = True
    print(table(result))
    if a.json:
        from ..io import write_json

        write_json(a.json, result)
        print(f"\n(written to {a.json})")
    return 1 if result.get("mixed", {}).get("errors") else 0


def table(r: dict) -> str:
    lines = ["| one request at a time | p50 ms | p95 ms | n |", "| --- | --- | --- | --- |"]
    for name, row in r.get("single_request", {}).items():
        lines.append(f"| {name} | {row['p50']} | {row['p95']} | {row['n']}{' (' + str(row['errors']) + ' errors)' if row['errors'] else ''} |")
    m = r.get("mixed")
    if m:
        lines += ["", f"| {r['requests']} mixed requests, {r['concurrency']} in flight | value |", "| --- | --- |",
                  f"| errors | {m['errors']} |", f"| requests/s | {m['requests_per_second']} |",
                  f"| p50 / p95 / p99 ms | {m['p50']} / {m['p95']} / {m['p99']} |",
                  f"| peak RSS (MB) | {r.get('peak_rss_mb') and round(r['peak_rss_mb'])}"
                  f"{' (dense server: ' + str(round(r['peak_rss_mb_dense_server'])) + ')' if r.get('peak_rss_mb_dense_server') else ''} |",
                  f"| service start-up (s, to listening) | {r['startup_seconds']:.1f} |"]
        for s in m.get("error_samples", []):
            lines.append(f"error: {s}")
    lines.append(f"\n{r['cpus']} CPUs; load average before {r['load_before'][0]:.2f}, after {r['load_after'][0]:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
