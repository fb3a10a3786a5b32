"""`make lab` starts as the user is (root included, as on this project's machines), on loopback,
prints a URL with its token, serves /lab and opens a paired notebook (jupytext)."""

import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
import json

import pytest

from recutils.notebooks.lab import lab_command

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_root_gets_allow_root_and_loopback():
    cmd = lab_command(8899)
    assert "--ip=127.0.0.1" in cmd and "--no-browser" in cmd and "--port=8899" in cmd
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)


def test_lab_answers_and_opens_a_paired_notebook(tmp_path):
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    proc = subprocess.Popen(lab_command(port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        url, lines, deadline = None, [], time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(rf"(http://127\.0\.0\.1:{port}/lab\?token=\w+)", line)
            url = m.group(1) if m else None
        assert url, "no URL with a token:\n" + "".join(lines[-20:])
        token = url.split("token=")[1]
        for _ in range(60):  # the URL is printed as the server starts listening
            try:
                with urllib.request.urlopen(url, timeout=30) as r:
                    assert r.status == 200 and b"JupyterLab" in r.read()
                break
            except urllib.error.URLError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab printed its URL but never answered:\n" + "".join(lines[-20:]))
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/contents/02_tfidf_search.py?type=notebook&content=1",
                                     headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            nb = json.loads(r.read())
        assert nb["type"] == "notebook" and any("parameters" in c["metadata"].get("tags", []) for c in nb["content"]["cells"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
