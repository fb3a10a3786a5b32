"""How fit and score speed depend on torch's thread count, for a fitted model.

:func:`thread_benchmark` interleaves the settings in one process, so that load from other
processes on a shared machine hits every setting alike.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..constants import COL_RATING
from ..torch_threads import torch_threads
from ..models.torch_cf.model import TorchCF

__all__ = ["thread_benchmark"]


def thread_benchmark(model: TorchCF, threads=(1, 2), repeats: int = 3, n_batches: int = 40,
                     n_score_users: int = 64) -> dict:
    """Time a fitted model's two workloads under each torch thread count, interleaved in one
    process (so that load from other processes hits every setting alike).

    Workloads: ``n_batches`` training steps (forward + backward + Adam, on a copy of the network)
    and one ``score`` of ``n_score_users`` users. Returns the median seconds per setting and
    the ratios to the first setting (< 1: faster than ``threads[0]``).
    """
    import copy

    import torch

    model._check_fitted()
    c = model.config
    tr = model.split_.train
    g = torch.Generator().manual_seed(c.seed)
    n = len(tr)
    idx = torch.randint(n, (n_batches, c.batch_size), generator=g)
    u_all = torch.as_tensor(tr["uidx"].to_numpy(np.int64, copy=True))
    i_all = torch.as_tensor(tr["iidx"].to_numpy(np.int64, copy=True))
    y_all = torch.as_tensor(tr[COL_RATING].to_numpy(np.float32, copy=True))
    users = np.arange(min(n_score_users, model.split_.n_users))
    times = {"train": {t: [] for t in threads}, "score": {t: [] for t in threads}}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(c.seed)
        for _ in range(repeats):
            for t in threads:
                net = copy.deepcopy(model.net_).train()
                opt = torch.optim.Adam(net.parameters(), lr=c.lr)
                with torch_threads(t):
                    t0 = time.perf_counter()
                    for b in idx:
                        loss = torch.mean((net(u_all[b], i_all[b]) - y_all[b]) ** 2)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                    times["train"][t].append(time.perf_counter() - t0)
                model_t = copy.copy(model)
                model_t.config = dataclasses.replace(c, num_threads=t)
                t0 = time.perf_counter()
                model_t.score(users)
                times["score"][t].append(time.perf_counter() - t0)
    out = {}
    for w, d in times.items():
        med = {t: float(np.median(v)) for t, v in d.items()}
        out[w] = {"seconds": {str(t): round(s, 4) for t, s in med.items()},
                  "ratio_to_" + str(threads[0]): {str(t): round(med[t] / med[threads[0]], 3) for t in threads}}
    out["setup"] = {"repeats": repeats, "n_batches": n_batches, "batch_size": c.batch_size,
                    "n_score_users": int(len(users)), "n_items": int(model.split_.n_items)}
    return out
