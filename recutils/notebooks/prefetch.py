"""Work a notebook will need, done ahead of it into the cache, in ``make reproduce``'s lane.

    python -m recutils.notebooks.prefetch 06_cold_start [--params full]

Notebook 06's §8 fine-tunes MiniLM on the CF pairs of **every training part it fits on**: five
cold splits × (the split's training part, its validation carve-out) — ten fine-tunes, each with
an encoding of every movie, about 900 CPU-seconds of a cold ``make reproduce``. They depend on
the ratings and the notebook's parameters only. So the runner's low-priority lane
(:mod:`.lane`), after the artifacts, runs them while notebooks 01–05 leave a core idle, and the
notebook reads each one from the embedding cache (the same key: the same pairs, texts and
settings, :func:`~recutils.experiments.coldstart.cf_finetuned_embeddings`); what the lane did not
reach, the notebook trains as before. No number changes.

- The order: seed 42's training part first (§2 of the notebook fine-tunes on it too, at its
  start), then §8's in reverse (its last seed's parts first): where the notebook and the lane
  reach the same fine-tune, they meet once at most.
- One torch and one BLAS thread, as §8's worker processes have (joblib's loky sets them): the CF
  pairs come from an EASE fit whose last digits follow the BLAS thread count, and the cache key
  names the exact pairs.
- The runner stops the lane's prefetch when the notebook starts (it would only compete with it).
- Writes only through the embedding cache (atomic); prints one line per fine-tune.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

__all__ = ["PREFETCH", "cold_start_parts", "prefetch_command", "prefetch_cold_start"]


def cold_start_parts(p: dict) -> list[tuple[str, object]]:
    """``[(name, training data)]`` of notebook 06's CF-pair fine-tunes for parameters ``p``, in
    the prefetch order (module docstring); empty when ``ablation_cf_finetune`` is off."""
    from ..datasets import load_ratings
    from ..experiments.coldstart import cold_protocol
    from ..splits import sample_users

    ratings = sample_users(load_ratings(p["data_dir"]), p["n_users"], rng=p["seed"])
    protocol = cold_protocol(ratings, p["cold_share"], p["val_share"])
    main = protocol.make_split(int(p["seed"]))  # §2: the cold split of `seed`, its training part
    parts = [(f"seed {p['seed']} training part (§2)", main.without_test())]
    if p.get("ablation_cf_finetune"):
        for s in reversed([int(x) for x in p["ablation_seeds"]]):
            split = main if s == int(p["seed"]) else protocol.make_split(s)
            if s != int(p["seed"]):
                parts.append((f"seed {s} training part", split.without_test()))
            parts.append((f"seed {s} validation carve-out", protocol.make_validation(split, s).without_test()))
    return parts


def prefetch_cold_start(p: dict, stream=sys.stdout) -> int:
    """Notebook 06's CF-pair fine-tunes (:func:`cold_start_parts`) into the embedding cache;
    returns how many were trained (the others were cached already)."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from ..datasets.text import movie_texts, text_key
    from ..experiments.coldstart import CFFinetunedText
    from ..experiments.studies.cold_start_texts import finetune_config
    from ..splits import cold_item_split, study_split
    from ..torch_threads import torch_threads

    with threadpool_limits(1), torch_threads(1):
        texts = movie_texts("study", p["data_dir"])
        if not p["embed_all_movies"]:  # the notebook's movie_ids: the movies of its three splits
            from ..datasets import load_ratings
            from ..experiments.coldstart import warm_item_validation
            from ..splits import sample_users

            ratings = sample_users(load_ratings(p["data_dir"]), p["n_users"], rng=p["seed"])
            cold = cold_item_split(ratings, share=p["cold_share"], rng=p["seed"])
            val = warm_item_validation(cold, share=p["val_share"], seed=p["seed"] + 1)
            ids = np.union1d(np.union1d(cold.items, study_split(ratings).items), val.items)
            texts = texts[texts.index.isin(ids)]
        provider = CFFinetunedText(p["finetune_model"], texts, text_key("study", texts), n_pairs=p["cf_pairs"],
                                   ease_lambda=p["ease_lambda"], config=finetune_config(p["cf_finetune"], p["seed"]),
                                   seed=p["seed"], cache_dir=p["cache_dir"], progress=False)
        trained = 0
        for name, train in cold_start_parts(p):
            t0 = time.perf_counter()
            fits = provider.trained
            provider(train)
            new = provider.trained > fits
            trained += new
            print(f"{time.strftime('%H:%M:%S')} 06_cold_start {name}: "
                  f"{'fine-tuned and encoded' if new else 'in the cache already'} ({time.perf_counter() - t0:.0f} s)",
                  file=stream, flush=True)
    return trained


#: notebook name → its prefetch (parameters → fine-tunes trained)
PREFETCH: dict[str, Callable[[dict], int]] = {"06_cold_start": prefetch_cold_start}


def prefetch_command(notebook: str, level: str) -> list[str]:
    """The lane's command for ``notebook`` at params ``level``."""
    return [sys.executable, "-m", "recutils.notebooks.prefetch", notebook, "--params", level]


def main(argv=None) -> int:
    from ..errors import RecutilsError
    from .coldstart_ablations import notebook06_params

    ap = argparse.ArgumentParser(prog="python -m recutils.notebooks.prefetch", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook", choices=sorted(PREFETCH), help="the notebook whose work to do ahead")
    ap.add_argument("--params", default="full", help="its params level (smoke, full)")
    a = ap.parse_args(argv)
    try:
        PREFETCH[a.notebook](notebook06_params(a.params))
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
