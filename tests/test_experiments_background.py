"""recutils.experiments.background: work started early in a lower-priority process."""

from __future__ import annotations

import os
import time

import pytest

from recutils.errors import RecutilsError
from recutils.experiments.background import Background


def _pid_and_nice(x):
    return os.getpid(), os.nice(0), x * 2


def _user_mistake():
    raise RecutilsError("ablation_seeds must not be empty")


def _bug():
    raise ValueError("boom")


def _exit_without_result():
    os._exit(3)


def _sleep(seconds):
    time.sleep(seconds)
    return "late"


def test_deferred_runs_the_call_at_result_in_this_process():
    calls = []
    job = Background(lambda a, b=0: calls.append((a, b)) or a + b, 2, b=3, enabled=False)
    assert calls == []  # nothing before result()
    assert job.result() == 5 and job.result() == 5
    assert calls == [(2, 3)]  # called once
    assert job.seconds is not None and job.seconds >= 0


def test_background_runs_in_a_lower_priority_process_and_returns_its_result():
    offset = 7
    job = Background(lambda x: (*_pid_and_nice(x), offset), 21, nice=5)  # a closure travels (cloudpickle)
    pid, nice, doubled, off = job.result()
    assert pid != os.getpid()
    assert nice >= os.nice(0) + 5 or nice == 19
    assert (doubled, off) == (42, 7)
    assert job.seconds > 0 and not job.running


def test_a_user_error_in_the_child_is_one_line_here():
    with pytest.raises(RecutilsError) as e:
        Background(_user_mistake, name="the ablations").result()
    assert str(e.value) == "the ablations (in the background): ablation_seeds must not be empty"


def test_a_bug_in_the_child_is_raised_with_its_traceback():
    with pytest.raises(RecutilsError, match=r"failed in the background: ValueError: boom(.|\n)*Traceback"):
        Background(_bug).result()


def test_a_child_that_dies_without_a_result_is_an_error_not_a_hang():
    with pytest.raises(RecutilsError, match="exit code 3"):
        Background(_exit_without_result).result()


def test_cancel_stops_the_child():
    job = Background(_sleep, 60)
    time.sleep(0.5)
    assert job.running
    t0 = time.perf_counter()
    job.cancel()
    assert time.perf_counter() - t0 < 10
    assert not job.running
    with pytest.raises(RecutilsError, match="cancelled"):
        job.result()
