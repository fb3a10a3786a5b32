"""Notebook 06's issue-24 ablations run outside the notebook, with the notebook's parameters.

    python -m recutils.notebooks.coldstart_ablations --params full --out reports/06_cold_start/ablations.json

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
    """label → ItemEmbeddings for ``labels`` of ``spec`` (label → [model, text]; text "search" is
    notebook 03's index text), from the embedding cache when it has them."""
    from ..embeddings.items import compute_item_embeddings
    from ..experiments.coldstart import search_text_embeddings

    out = {}
    for label in labels:
        model, text = spec[label]
        if text == "search":
            out[label] = search_text_embeddings(model, data_dir, cache_dir, movie_ids=movie_ids, progress=progress)
        else:
            out[label] = compute_item_embeddings(model, text, data_dir=data_dir, cache_dir=cache_dir, progress=progress,
                                                 movie_ids=movie_ids)
    return out


def summary(res: dict, seconds: float) -> dict:
    """What the JSON holds: the rows, the choices per seed, the validation grids and curves."""
    multi = res["multi"]
    return {"n_seeds_done": len(multi.runs), "seeds": multi.seeds, "text_source": res["text_source"],
            "text_validation": res["text_validation"], "rows": res["rows"], "release_rows": res["release_rows"],
            "text_rows": res["text_rows"], "cross_protocol": res["cross_protocol"], "curves": res["curves"],
            "chosen": {r.seed: r.chosen for r in multi.runs},
            "validation": {r.seed: {lb: rows for lb, rows in r.grids.items() if rows} for r in multi.runs},
            "text_chosen": {r.seed: r.chosen for r in res["text_multi"].runs}, "seconds": round(seconds, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="full", help="params level of notebook 06 (smoke, full)")
    ap.add_argument("--out", required=True, help="JSON written after every seed")
    ap.add_argument("--seeds", type=int, nargs="*", help="override ablation_seeds")
    a = ap.parse_args(argv)

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
    texts = text_embeddings(p["text_embeddings"], p["ablation_texts"], p["data_dir"], p["cache_dir"], ids, p["progress"])
    base = {"als": {"als_factors": p["als_factors"], "seed": p["seed"]}, "ease_lambda": p["ease_lambda"]}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(res):
        write_json(out, {"params_level": a.params, **summary(res, time.perf_counter() - t0)})
        print(f"{time.strftime('%H:%M:%S')} seeds done: {res['multi'].seeds} ({time.perf_counter() - t0:.0f} s)", flush=True)

    run_ablations(ratings, movies, texts, base, a.seeds or p["ablation_seeds"], p["ablation_grids"], k=p["k"],
                  cold_share=p["cold_share"], val_share=p["val_share"], curve_hiddens=p["curve_hiddens"],
                  curve_epochs=p["curve_epochs"], n_boot=p["n_boot"], progress=p["progress"], on_seed=save)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
