"""recutils.notebooks.malloc: glibc's malloc settings for the kernels, merged with the user's,
and what they change (a freed heap top kept instead of faulted in again)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from recutils.notebooks import malloc

# four 16 MiB blocks taken, written and freed, ten times: the shape of one epoch of notebook 06's MLP
ROUNDS = """
import ctypes, json, resource
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
n = 16 << 20
def round_():
    blocks = [libc.malloc(n) for _ in range(4)]
    for b in blocks:
        ctypes.memset(b, 1, n)
    for b in blocks:
        libc.free(b)
round_(); round_()
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    round_()
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 10))
"""


def test_tunables_adds_every_setting_and_keeps_the_users():
    assert malloc.tunables() == ":".join(f"{k}={v}" for k, v in malloc.TUNABLES.items())
    assert malloc.tunables("") == malloc.tunables(None)
    mine = "glibc.malloc.trim_threshold=1:glibc.cpu.x86_rep_movsb_threshold=2048"
    out = malloc.tunables(mine).split(":")
    assert out[:2] == mine.split(":")  # the user's keys first and unchanged
    assert [p.split("=")[0] for p in out].count("glibc.malloc.trim_threshold") == 1
    assert {p.split("=")[0] for p in out} == {*malloc.TUNABLES, "glibc.cpu.x86_rep_movsb_threshold"}


def test_kernel_environment_sets_and_restores(monkeypatch):
    monkeypatch.delenv(malloc.ENV, raising=False)
    with malloc.kernel_environment() as value:
        assert os.environ[malloc.ENV] == value == malloc.tunables()
    assert malloc.ENV not in os.environ
    monkeypatch.setenv(malloc.ENV, "glibc.malloc.top_pad=1")
    with malloc.kernel_environment() as value:
        assert value.startswith("glibc.malloc.top_pad=1:") and "glibc.malloc.top_pad=33554432" not in value
    assert os.environ[malloc.ENV] == "glibc.malloc.top_pad=1"
    with pytest.raises(RuntimeError), malloc.kernel_environment():
        raise RuntimeError("a failing notebook")
    assert os.environ[malloc.ENV] == "glibc.malloc.top_pad=1"


def _faults(env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", ROUNDS], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_the_settings_keep_freed_memory_instead_of_faulting_it_in_again():
    base = {k: v for k, v in os.environ.items() if k != malloc.ENV}
    pages = 4 * (16 << 20) / os.sysconf("SC_PAGE_SIZE")
    default, tuned = _faults(base), _faults({**base, malloc.ENV: malloc.tunables()})
    assert default > pages / 2  # glibc's defaults hand the 64 MiB back every round
    assert tuned < pages / 100  # with the settings the heap keeps it
