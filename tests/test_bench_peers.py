"""``recutils.bench.peers``: the timing loop's order (no time is asserted)."""

from recutils.bench.peers import interleaved


def test_interleaved_alternates_which_side_runs_first():
    calls = []

    def side(name):
        def run():
            calls.append(name)
            return f"{name}{len(calls)}"
        return run

    r = interleaved(side("ours"), side("peer"), 4)
    assert calls == ["ours", "peer", "peer", "ours", "ours", "peer", "peer", "ours"]
    assert r["repeats"] == 4 and r["_ours"] == "ours8" and r["_peer"] == "peer7"
    assert r["spread"] >= 0
