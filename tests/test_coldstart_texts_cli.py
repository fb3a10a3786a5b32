"""``python -m recutils.notebooks.coldstart_ablations --text-source-only``: the text-source
comparison on the smoke parameters (real data: integration tier)."""

import json

import pytest

from recutils.notebooks import coldstart_ablations as cli


def test_text_source_only_writes_the_table_and_pooled_comparisons(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("RECUTILS_PROGRESS", "0")
    out = tmp_path / "texts.json"
    assert cli.main(["--params", "smoke", "--text-source-only", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    labels = [r["model"] for r in d["table"]]
    assert labels[0] == "ridge → EASE · metadata" and len(labels) >= 2
    assert [c["a"] for c in d["vs_metadata"]] == labels[1:]
    assert all(c["b"] == labels[0] and c["low"] <= c["mean_diff"] <= c["high"] for c in d["vs_metadata"])
    n = len(labels) - 1
    assert len(d["between_texts"]) == n * (n - 1) // 2 and set(d["chosen"]) == {str(s) for s in d["seeds"]}


def test_text_source_only_rejects_an_unknown_text(data_dir, tmp_path):
    with pytest.raises(SystemExit) as e:
        cli.main(["--params", "smoke", "--text-source-only", "--texts", "nope", "--out", str(tmp_path / "x.json")])
    assert e.value.code == 2
