"""Notebook 06's issue-24 ablations run outside the notebook, with the notebook's parameters.

    python -m recutils.notebooks.coldstart_ablations --params full --out reports/06_cold_start/ablations.json
    python -m recutils.notebooks.coldstart_ablations --markdown reports/06_cold_start/ablations.json

Reads the parameters cell of ``notebooks/06_cold_start.py`` and ``params/06_cold_start.LEVEL.yaml``
(the same values a ``run 06 --params LEVEL`` would use), embeds (or reads from the cache) the
texts named by ``ablation_texts`` and runs
:func:`recutils.experiments.coldstart_ablations.run_ablations` — the same function §10 of the
notebook calls — writing the JSON after every finished seed (a long run that is stopped keeps
the seeds it finished; ``n_seeds_done`` says how many).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def notebook06_params(level: str) -> dict:
    """The parameters cell's defaults overridden by ``params/06_cold_start.LEVEL.yaml`` (checked)."""
    from .discovery import discover, find
    from .params import _parameters_source, notebook_params, parameter_defaults

    nb = find("06_cold_start", discover())
    return {**parameter_defaults(_parameters_source(nb)), **notebook_params(nb, level)}


def text_embeddings(spec: dict, labels, data_dir=None, cache_dir=None, movie_ids=None, progress=False) -> dict:
    """label → ItemEmbeddings for ``labels`` of ``spec`` (label → [model, text] or [model, text,
    backend]; text "search" is notebook 03's index text), from the embedding cache when it has them."""
    from ..experiments.studies.cold_start import text_embedding

    return {label: text_embedding(*spec[label][:2], spec[label][2] if len(spec[label]) > 2 else None, data_dir,
                                  cache_dir, movie_ids, progress) for label in labels}


def text_source_comparison(ratings, movies, texts: dict, base: dict, seeds, grids: dict, k: int = 25,
                           cold_share: float = 0.1, val_share: float = 0.1, n_boot: int = 2000,
                           progress: bool = False, workers: int = 1) -> dict:
    """The ridge → EASE map with metadata only and with each text, on the same cold splits
    (:func:`~recutils.experiments.coldstart_ablations.text_source_candidates`): the table (means
    and t-intervals over seeds, mean validation NDCG), each text against metadata only, and each
    pair of texts, as pooled paired bootstraps with the "holds" rule."""
    import itertools

    from ..experiments.coldstart import cold_multi_seed
    from ..experiments.coldstart_ablations import text_source_candidates

    ms = cold_multi_seed(ratings, seeds, text_source_candidates(movies, texts, base, grids), k=k,
                         cold_share=cold_share, val_share=val_share, progress=progress, workers=workers)
    ref = "ridge → EASE · metadata"
    rows = [label for label in ms.labels if label != ref]
    vs_metadata = [ms.compare(label, ref, "ndcg", n_boot=n_boot).as_dict() for label in rows]
    between = [ms.compare(x, y, "ndcg", n_boot=n_boot).as_dict() for x, y in itertools.combinations(rows, 2)]
    return {"seeds": ms.seeds, "table": ms.table(("precision", "recall", "ndcg")), "vs_metadata": vs_metadata,
            "between_texts": between, "chosen": {str(r.seed): r.chosen for r in ms.runs}}


def summary(res: dict, seconds: float) -> dict:
    """What the JSON holds: the rows, the choices per seed, the validation grids and curves."""
    multi = res["multi"]
    return {"n_seeds_done": len(multi.runs), "seeds": multi.seeds, "text_source": res["text_source"],
            "release_text_source": res["release_text_source"],
            "text_validation": res["text_validation"], "rows": res["rows"], "release_rows": res["release_rows"],
            "text_rows": res["text_rows"], "cross_protocol": res["cross_protocol"], "curves": res["curves"],
            "chosen": {r.seed: r.chosen for r in multi.runs},
            "validation": {r.seed: {lb: rows for lb, rows in r.grids.items() if rows} for r in multi.runs},
            "text_chosen": {r.seed: r.chosen for r in res["text_multi"].runs}, "seconds": round(seconds, 1)}


def _table(rows: list[dict], k: int = 25) -> list[str]:
    def iv(r, m):
        return f"{r[f'{m}@{k}']:.3f} [{r[f'{m}@{k}_low']:.3f}, {r[f'{m}@{k}_high']:.3f}]"

    out = [f"| scorer | NDCG@{k} [t-interval] | recall@{k} [t-interval] | vs reference, pooled [95 % CI] | seeds above | "
           "holds | coverage | avg. popularity |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        d = f"{r['ndcg_diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]" if "ndcg_diff" in r else "reference"
        above = f"{r['seeds_above']}/{r['n_seeds']}" if "ndcg_diff" in r else ""
        holds = ("yes" if r["holds"] else "no") if "ndcg_diff" in r else ""
        out.append(f"| {r['model']} | {iv(r, 'ndcg')} | {iv(r, 'recall')} | {d} | {above} | {holds} | "
                   f"{r['coverage']:.3f} | {r['avg_popularity']:.4f} |")
    wide = [r for r in rows if "vs_wider_diff" in r]
    if wide:
        out += ["", "Against the metadata-only MLP with the wider grid:", "",
                "| scorer | vs wider-grid reference, pooled [95 % CI] | per seed | holds |", "| --- | --- | --- | --- |"]
        for r in wide:
            out.append(f"| {r['model']} | {r['vs_wider_diff']:+.3f} [{r['vs_wider_low']:+.3f}, {r['vs_wider_high']:+.3f}] | "
                       + ", ".join(f"{x:+.3f}" for x in r["vs_wider_per_seed"]) + f" | {'yes' if r['vs_wider_holds'] else 'no'} |")
    return out


def markdown(d: dict) -> str:
    """The JSON of a run as markdown tables (docs/coldstart.md is written from this); also a
    notebook 06 ``metrics.json`` (its ``ablations`` entry: the same function's result)."""
    d = d.get("ablations", d)
    val = d.get("text_validation")
    if val is None:  # a notebook's entry: each text row carries its mean validation score
        pre = "ridge → EASE · metadata + "
        val = {r["model"][len(pre):]: r["validation_ndcg@25"] for r in d["text_rows"]
               if r["model"].startswith(pre) and r.get("validation_ndcg@25") is not None}
    lines = [f"{d.get('n_seeds_done', len(d['seeds']))} cold splits (seeds {d['seeds']}), {d['seconds']:.0f} s; text "
             f"source chosen on validation: {d['text_source']}; release day: "
             f"{d.get('release_text_source', d['text_source'])}"
             + (" (mean validation NDCG of the ridge map: " + ", ".join(f"{lb} {v:.4f}" for lb, v in val.items()) + ")"
                if val else ""), "",
             "Text sources (ridge → EASE · metadata + text):", "", *_table(d["text_rows"]), "",
             "Standard protocol:", "", *_table(d["rows"]), "", "Release-day protocol:", "", *_table(d["release_rows"]), ""]
    for c in d["cross_protocol"]:
        lines.append(f"- {c['a']} − {c['b']}: {c['ndcg_diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], per seed "
                     + ", ".join(f"{x:+.4f}" for x in c["per_seed"]) + f"; {'holds' if c['holds'] else 'does not hold'}")
    if d["curves"]:
        lines += ["", "Learning curves (validation NDCG, first seed's carve-out; hidden × epochs):", ""]
        epochs = sorted({r["mlp_epochs"] for r in d["curves"]})
        lines += ["| hidden | text | " + " | ".join(str(e) for e in epochs) + " |", "| --- | --- |" + " --- |" * len(epochs)]
        for h in sorted({r["mlp_hidden"] for r in d["curves"]}):
            for t in (False, True):
                v = {r["mlp_epochs"]: r["val_ndcg"] for r in d["curves"] if r["mlp_hidden"] == h and r["text"] == t}
                lines.append(f"| {h} | {'yes' if t else 'no'} | " + " | ".join(f"{v[e]:.4f}" for e in epochs) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="full", help="params level of notebook 06 (smoke, full)")
    ap.add_argument("--out", help="JSON written after every seed")
    ap.add_argument("--seeds", type=int, nargs="*", help="override ablation_seeds")
    ap.add_argument("--protocols", nargs="*", default=["standard", "release"], help="standard and/or release")
    ap.add_argument("--no-curves", action="store_true", help="skip the learning curves")
    ap.add_argument("--grids", help="JSON: overrides of ablation_grids on top of the params file's")
    ap.add_argument("--markdown", metavar="JSON", help="print a finished (or partial) run's JSON as markdown tables")
    ap.add_argument("--stronger-reference", metavar="JSON",
                    help="re-check the text scorers --labels of a finished run (its per-seed choices) against the "
                         "metadata-only MLPs with the grid --hidden × --epochs; writes --out")
    ap.add_argument("--texts", nargs="*", help="override ablation_texts (labels of the notebook's text_embeddings)")
    ap.add_argument("--text-source-only", action="store_true",
                    help="only the text-source comparison (ridge → EASE · metadata + each text, five cold splits) "
                         "with pooled paired CIs against metadata only and between texts; writes --out")
    ap.add_argument("--no-cf-finetune", action="store_true",
                    help="leave out the per-split CF-pair fine-tune (ablation_cf_finetune) from the texts")
    ap.add_argument("--workers", type=int, help="processes for the seeds (default: the params file's workers)")
    ap.add_argument("--labels", nargs="*", default=[])
    ap.add_argument("--hidden", type=int, nargs="*", default=[128, 512])
    ap.add_argument("--epochs", type=int, nargs="*", default=[200, 400])
    a = ap.parse_args(argv)
    if a.markdown:
        from ..io import read_json

        print(markdown(read_json(a.markdown)))
        return 0
    if not a.out:
        ap.error("--out is required to run")
    if a.workers is not None and a.workers < 1:
        ap.error(f"--workers must be ≥ 1, got {a.workers}")

    import numpy as np

    from ..datasets import load_ratings, movie_table
    from ..experiments.coldstart_ablations import run_ablations
    from ..io import write_json
    from ..splits import sample_users

    p = notebook06_params(a.params)
    t0 = time.perf_counter()
    ratings = sample_users(load_ratings(p["data_dir"]), p["n_users"], rng=p["seed"])
    movies = movie_table(p["data_dir"])
    ids = None if p["embed_all_movies"] else np.unique(ratings["movieId"])
    labels = a.texts or p["ablation_texts"]
    unknown = [lb for lb in labels if lb not in p["text_embeddings"]]
    if unknown:
        ap.error(f"--texts: {unknown} are not labels of text_embeddings ({', '.join(p['text_embeddings'])})")
    texts = text_embeddings(p["text_embeddings"], labels, p["data_dir"], p["cache_dir"], ids, p["progress"])
    if p["ablation_cf_finetune"] and not a.no_cf_finetune:
        from ..experiments.studies.cold_start import ablation_text_sources

        texts = ablation_text_sources(texts, list(texts), True, finetune_model=p["finetune_model"], cf_pairs=p["cf_pairs"],
                                      cf_finetune=p["cf_finetune"], ease_lambda=p["ease_lambda"], seed=p["seed"],
                                      data_dir=p["data_dir"], cache_dir=p["cache_dir"], movie_ids=ids,
                                      progress=p["progress"])
    base = {"als": {"als_factors": p["als_factors"], "seed": p["seed"]}, "ease_lambda": p["ease_lambda"]}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    if a.stronger_reference:
        from ..experiments.coldstart_ablations import stronger_reference
        from ..io import read_json

        done = read_json(a.stronger_reference)
        E = texts[done["text_source"]]

        def save_rows(rows):
            write_json(out, {"from": a.stronger_reference, "grid": {"mlp_hidden": a.hidden, "mlp_epochs": a.epochs},
                             "rows": rows, "seconds": round(time.perf_counter() - t0, 1)})
            print(f"{time.strftime('%H:%M:%S')} seeds done: {rows[0]['n_seeds']} ({time.perf_counter() - t0:.0f} s)", flush=True)

        stronger_reference(ratings, movies, E, base, done["chosen"], a.labels, {"mlp_hidden": a.hidden, "mlp_epochs": a.epochs},
                           k=p["k"], cold_share=p["cold_share"], val_share=p["val_share"], n_boot=p["n_boot"],
                           grids=p["ablation_grids"], progress=p["progress"], on_seed=save_rows)
        return 0

    if a.text_source_only:
        write_json(out, {"params_level": a.params, **text_source_comparison(
            ratings, movies, texts, base, a.seeds or p["ablation_seeds"], p["ablation_grids"], k=p["k"],
            cold_share=p["cold_share"], val_share=p["val_share"], n_boot=p["n_boot"], progress=p["progress"],
            workers=a.workers or p["workers"]),
            "seconds": round(time.perf_counter() - t0, 1)})
        print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")
        return 0

    def save(res):
        write_json(out, {"params_level": a.params, **summary(res, time.perf_counter() - t0)})
        print(f"{time.strftime('%H:%M:%S')} seeds done: {res['multi'].seeds} ({time.perf_counter() - t0:.0f} s)", flush=True)

    import json

    grids = {**p["ablation_grids"], **(json.loads(a.grids) if a.grids else {})}
    run_ablations(ratings, movies, texts, base, a.seeds or p["ablation_seeds"], grids, k=p["k"],
                  cold_share=p["cold_share"], val_share=p["val_share"], curve_hiddens=[] if a.no_curves else p["curve_hiddens"],
                  curve_epochs=p["curve_epochs"], n_boot=p["n_boot"], progress=p["progress"], on_seed=save,
                  release_texts=p["release_day_texts"], protocols=tuple(a.protocols),
                  workers=a.workers or p["workers"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
