"""``python -m recutils.notebooks.coldstart_ablations --markdown``: the tables of a runner JSON and
of a notebook 06 ``metrics.json`` (its ``ablations`` entry) — the page docs/coldstart.md is written from."""

from recutils.notebooks.coldstart_ablations import main, markdown


def _row(model, ref=True):
    r = {"model": model, "n_seeds": 2, "coverage": 0.5, "avg_popularity": 0.01}
    for m in ("ndcg", "recall"):
        r.update({f"{m}@25": 0.3, f"{m}@25_low": 0.2, f"{m}@25_high": 0.4})
    if ref:
        r.update(ndcg_diff=0.01, ci_low=-0.01, ci_high=0.03, seeds_above=1, holds=False)
    return r


ENTRY = {"seeds": [42, 7], "seconds": 12.0, "text_source": "A", "release_text_source": "B",
         "rows": [_row("ref", False), _row("x")], "release_rows": [_row("release · x")],
         "text_rows": [{**_row("ridge → EASE · metadata + A"), "validation_ndcg@25": 0.31},
                       {**_row("ridge → EASE · metadata + B"), "validation_ndcg@25": 0.29}],
         "cross_protocol": [], "curves": []}


def test_runner_json_and_notebook_metrics_give_the_same_tables(tmp_path, capsys):
    import json

    runner = markdown({**ENTRY, "n_seeds_done": 2, "text_validation": {"A": 0.31, "B": 0.29}})
    notebook = markdown({"k": 25, "ablations": ENTRY})  # the scores come from the text rows
    assert runner == notebook
    assert runner.startswith("2 cold splits (seeds [42, 7]), 12 s; text source chosen on validation: A; release day: B")
    assert "A 0.3100, B 0.2900" in runner and "| x | 0.300 [0.200, 0.400]" in runner
    no_val = markdown({**ENTRY, "text_rows": [{**r, "validation_ndcg@25": None} for r in ENTRY["text_rows"]]})
    assert "mean validation" not in no_val.splitlines()[0]
    f = tmp_path / "metrics.json"
    f.write_text(json.dumps({"ablations": ENTRY}))
    assert main(["--markdown", str(f)]) == 0 and capsys.readouterr().out.strip() == notebook.strip()
