"""`make bench-serve`'s load script runs end to end on a tiny budget (no timing is asserted:
its numbers only mean something on an idle machine)."""

import json

import numpy as np

from recutils.bench import serve as loadtest


def test_workload_mix():
    paths = loadtest.workload(np.random.default_rng(0), np.arange(1, 11), ["ease", "mostpop"], ["heat", "alien"], 400)
    kinds = [p.split("?")[0] if p.startswith("/user") else p.split("mode=")[1] for p in paths]
    n_user = sum(k.startswith("/user_recommend/") for k in kinds)
    assert 150 < n_user < 250 and 60 < kinds.count("auto") < 140 and 60 < kinds.count("prompt") < 140
    assert all("model=ease" in p or "model=mostpop" in p for p in paths if p.startswith("/user"))
    titles = [p.split("q=")[1].split("&")[0] for p in paths if p.endswith("mode=auto")]
    typos = sum(t not in ("heat", "alien") for t in titles)
    assert 0.3 < typos / len(titles) < 0.7 and all(t in ("hat", "het", "hea", "aien", "alen", "alin", "alie")
                                                    for t in titles if t not in ("heat", "alien"))


def test_typo_drops_one_letter_after_the_first():
    rng = np.random.default_rng(1)
    for t in ["the matrix", "heat", "up", "2012"]:
        for _ in range(20):
            out = loadtest.typo(rng, t)
            if t == "2012":
                assert out == t  # nothing to drop
            else:
                assert len(out) == len(t) - 1 and out[0] == t[0]


def test_load_script_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = loadtest.main(["--artifacts", str(tmp_path / "none"), "--models", "mostpop", "--requests", "60",
                        "--concurrency", "4", "--single", "3", "--no-dense", "--json", str(out), "--max-seconds", "900"])
    text = capsys.readouterr().out
    r = json.loads(out.read_text())
    assert rc == 0 and r["mixed"]["errors"] == 0 and r["mixed"]["n"] == 60 and r["peak_rss_mb"] > 0
    assert set(r["single_request"]) == {"user_recommend (mostpop)", "title (similar movies)",
                                         "title with a typo (fuzzy match)", "prompt, TF-IDF"}
    assert "| errors | 0 |" in text and "requests/s" in text
