"""recutils.torch_threads: the one context manager for torch's intra-op thread count."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

from recutils.torch_threads import torch_threads  # noqa: E402


@pytest.mark.parametrize("n", [None, 0])
def test_none_and_zero_leave_the_count_alone(n):
    before = torch.get_num_threads()
    with torch_threads(n):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


def test_sets_and_restores_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(ValueError):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise ValueError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(before):  # the current count: applied and restored, no change
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


def test_one_helper_everywhere():
    import recutils.search as search
    from recutils.bench import search_latency as latency
    from recutils.search import dense

    assert search.torch_threads is latency.torch_threads is dense.torch_threads is torch_threads


# --- free_cores: /proc/stat, affinity, cgroup quota, fallbacks (all faked) ----------------------
from recutils import torch_threads as tt  # noqa: E402
from recutils.errors import ConfigError  # noqa: E402


def _stat_text(per_cpu: dict[int, tuple[int, int]]) -> str:
    """A /proc/stat with the given (busy, idle) jiffies per CPU (busy split over user/system/steal)."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    for cpu, (busy, idle) in per_cpu.items():
        user, system, steal = busy // 2, busy // 4, busy - busy // 2 - busy // 4
        lines.append(f"cpu{cpu} {user} 0 {system} {idle} 0 0 0 {steal} 0 0")
    lines.append("intr 1 2 3")
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def no_omp_env(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


@pytest.fixture
def fake_machine(tmp_path, monkeypatch):
    """A fake clock and /proc/stat: ``setup(cpus, busy, own)`` sets the affinity and what happens
    from now on — each second (each ``time.sleep``) CPU ``c`` is busy ``busy[c]`` jiffies out of
    100 and this process uses ``own`` CPU seconds."""
    stat = tmp_path / "stat"
    monkeypatch.setattr(tt, "PROC_STAT", str(stat))
    monkeypatch.setattr(tt, "CGROUP_CPU_MAX", str(tmp_path / "no-cgroup"))
    state = {"clock": 0.0, "cpu": 0.0, "own": 0.0, "busy": {}, "jiffies": {c: [1000, 1000] for c in range(8)}}

    def write():
        stat.write_text(_stat_text({c: tuple(v) for c, v in state["jiffies"].items()}))

    def fake_sleep(seconds):
        for c, v in state["jiffies"].items():
            b = state["busy"].get(c, 0)
            v[0] += b
            v[1] += 100 - b
        state["clock"] += 1.0
        state["cpu"] += state["own"]
        write()

    monkeypatch.setattr(tt.time, "sleep", fake_sleep)
    monkeypatch.setattr(tt.time, "monotonic", lambda: state["clock"])
    monkeypatch.setattr(tt.time, "process_time", lambda: state["cpu"])

    def setup(cpus, busy: dict[int, int], own: float = 0.0):
        monkeypatch.setattr(tt.os, "sched_getaffinity", lambda pid: set(cpus), raising=False)
        state["busy"], state["own"] = dict(busy), own
        write()
    return setup


@pytest.mark.parametrize("busy, own, expected", [
    ({}, 0.0, 4),                                   # idle machine: every core
    ({0: 100, 1: 100}, 0.0, 2),                     # two cores taken by others
    ({0: 100, 1: 100, 2: 100, 3: 100}, 0.0, 1),     # all taken: still one thread
    ({0: 100, 1: 100}, 2.0, 4),                     # the busy cores were this process's own work
    ({0: 30}, 0.0, 3),                              # others use 30 % of a core: it is not free
    ({0: 20}, 0.0, 4),                              # 20 %: within the slack, still free
    ({4: 100, 5: 100, 6: 100, 7: 100}, 0.0, 4),     # load on CPUs outside the affinity does not count
])
def test_free_cores_from_proc_stat(fake_machine, busy, own, expected):
    fake_machine([0, 1, 2, 3], busy, own)
    assert tt.free_cores() == expected
    assert 1 <= tt.free_cores() <= len(tt._allowed_cpus())


def test_free_cores_affinity_and_cgroup_quota_bound(fake_machine, tmp_path, monkeypatch):
    fake_machine([0, 1, 2, 3, 4, 5], {})
    assert tt.usable_cores() == 6 and tt.free_cores() == 6
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 cores: one thread, no sampling
    monkeypatch.setattr(tt, "CGROUP_CPU_MAX", str(tmp_path / "cpu.max"))
    assert tt.usable_cores() == 1 and tt.free_cores() == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert tt.usable_cores() == 6


def test_free_cores_fallbacks_without_proc_stat(fake_machine, monkeypatch):
    fake_machine([0, 1, 2, 3], {})
    monkeypatch.setattr(tt, "PROC_STAT", "/nonexistent/stat")
    monkeypatch.setattr(tt.os, "getloadavg", lambda: (2.6, 1.0, 1.0))
    assert tt.free_cores() == 1  # 4 − 2.6 + 0.25 → 1
    monkeypatch.setattr(tt.os, "getloadavg", lambda: (0.1, 1.0, 1.0))
    assert tt.free_cores() == 4

    def no_loadavg():
        raise OSError("no load average here")
    monkeypatch.setattr(tt.os, "getloadavg", no_loadavg)
    assert tt.free_cores() == 4  # nothing to go by: every usable core


def test_free_cores_on_this_machine():
    n = tt.free_cores(interval=0.05)
    assert isinstance(n, int) and 1 <= n <= len(os.sched_getaffinity(0))


def test_auto_applies_free_cores_and_adapts(fake_machine, monkeypatch):
    fake_machine([0, 1, 2, 3], {0: 100})  # one core taken: 3 free
    monkeypatch.setattr(tt, "_last_auto", None)
    before = torch.get_num_threads()
    assert tt.adapt_threads() is None and tt.threads_used() is None  # outside an "auto" block
    with tt.torch_threads("auto") as n:
        assert n == 3 and torch.get_num_threads() == 3 and tt.threads_used() == [3]
        # other processes take two more cores: the next check moves to 1 thread
        fake_machine([0, 1, 2, 3], {0: 100, 1: 100, 2: 100})
        tt.time.sleep(1)  # a second of that
        assert tt.adapt_threads() == 3  # checked less than RECHECK_SECONDS ago: unchanged
        assert tt.adapt_threads(force=True) == 1 and torch.get_num_threads() == 1
        assert tt.threads_used() == [3, 1]
        with tt.torch_threads(2):  # an explicit count inside: not adapted
            assert tt.adapt_threads(force=True) is None and torch.get_num_threads() == 2
        assert torch.get_num_threads() == 1
        # the cores come free again: up only when two checks in a row agree
        fake_machine([0, 1, 2, 3], {})
        tt.time.sleep(1)
        assert tt.adapt_threads(force=True) == 1
        tt.time.sleep(1)
        assert tt.adapt_threads(force=True) == 4 and torch.get_num_threads() == 4
        assert tt.threads_used() == [3, 1, 4]
        fake_machine([0, 1, 2, 3], {0: 100})  # a free check between two busy ones does not go up
        tt.time.sleep(1)
        assert tt.adapt_threads(force=True) == 3
        fake_machine([0, 1, 2, 3], {})
        tt.time.sleep(1)
        assert tt.adapt_threads(force=True) == 3
        fake_machine([0, 1, 2, 3], {0: 100})
        tt.time.sleep(1)
        assert tt.adapt_threads(force=True) == 3
    assert torch.get_num_threads() == before and tt.adapt_threads() is None


def test_auto_is_reused_for_a_few_seconds(monkeypatch):
    calls = []
    monkeypatch.setattr(tt, "_last_auto", None)
    monkeypatch.setattr(tt, "free_cores", lambda: calls.append(1) or 1)
    assert tt.resolve_threads("auto") == 1 and tt.resolve_threads("auto") == 1
    assert len(calls) == 1  # a scoring loop entering torch_threads("auto") per batch samples once


@pytest.mark.parametrize("bad", ["fast", -1, 1.5, True, "2", [1]])
def test_bad_thread_values_are_one_line_errors(bad):
    with pytest.raises(ConfigError) as exc:
        with torch_threads(bad):
            pass
    assert "\n" not in str(exc.value) and "auto" in str(exc.value)


def test_configs_accept_auto_and_reject_bad_values_in_one_line():
    from recutils.config import build_config, parse_params
    from recutils.models.content import ContentConfig
    from recutils.models.torch_cf import TorchCF, TorchCFConfig

    assert build_config(TorchCFConfig, "model 'torch_cf'", {"num_threads": "auto"}).num_threads == "auto"
    assert build_config(ContentConfig, "model 'content'", {"num_threads": "auto"}).num_threads == "auto"
    assert build_config(ContentConfig, "model 'content'", {"num_threads": 0}).num_threads == 0
    assert parse_params(TorchCF, ["num_threads=auto"]) == {"num_threads": "auto"}
    assert parse_params(TorchCF, ["num_threads=2"]) == {"num_threads": 2}
    for cls, bad in ((TorchCFConfig, 0), (TorchCFConfig, "fast"), (ContentConfig, -1), (ContentConfig, "max")):
        with pytest.raises(ConfigError) as exc:
            build_config(cls, "model", {"num_threads": bad})
        assert "\n" not in str(exc.value) and "num_threads" in str(exc.value) and "'auto'" in str(exc.value)
    with pytest.raises(ConfigError, match="num_threads"):
        parse_params(TorchCF, ["num_threads=fast"])


def test_parse_threads_for_notebook_parameters():
    assert [tt.parse_threads(v) for v in ("auto", " AUTO ", "2", 2, "0", 0, None)] == ["auto", "auto", 2, 2, 0, 0, 0]
    for bad in ("fast", "-1", -1, 1.5, "", True):
        with pytest.raises(ConfigError) as exc:
            tt.parse_threads(bad)
        assert "\n" not in str(exc.value)


def test_explicit_omp_num_threads_wins_over_auto(fake_machine, monkeypatch):
    fake_machine([0, 1, 2, 3], {})  # four free cores
    monkeypatch.setattr(tt, "_last_auto", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # e.g. tests/portable.py default:1
    with tt.torch_threads("auto") as n:
        assert n == 1 and torch.get_num_threads() == 1
        assert tt.adapt_threads(force=True) is None  # pinned: not re-checked
    monkeypatch.setenv("OMP_NUM_THREADS", "garbage")  # not a count: measured as usual
    with tt.torch_threads("auto") as n:
        assert n == 4
