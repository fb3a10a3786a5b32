"""The ``torch_cf`` recommender: fit / predict / score / save / load.

:class:`TorchCF` wraps the network (:mod:`.net`) and its training (:mod:`.train`) behind
the project's :class:`~recutils.models.base.Recommender` interface.

Artifacts (:meth:`TorchCF.save` / :meth:`TorchCF.load`): ``model.safetensors`` (weights,
item-feature buffers, index maps, training triples) + ``config.json`` (the config dataclass
and feature metadata). No pickle. Torch is imported only when a model is fitted, used or
loaded.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...constants import COL_ITEM, COL_RATING, COL_USER
from ...errors import ConfigError, RecutilsError
from ...io import atomic_path, write_json
from ...provenance import audit_eps, perturb
from ...torch_threads import torch_threads
from ..base import NotFittedError, Recommender
from ..registry import register
from .config import TorchCFConfig
from .features import ItemFeatures

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "TorchCF"]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"



def _perturb_weights(net) -> None:
    """During a kernel audit, every trained weight × (1 + ε·z) (recutils.provenance.perturb)."""
    if not audit_eps():
        return
    import torch

    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.from_numpy(perturb(p.detach().cpu().numpy(), f"torch_cf.{name}")))

@register
class TorchCF(Recommender):
    """Hybrid rating model (see :mod:`recutils.models.torch_cf`).

    ``item_table``: the movie table with TMDB columns and genres (the CLIs and ``create()``
    pass :func:`recutils.datasets.movie_table`). ``item_text`` (needed when ``text_dim`` > 0):
    the movies' text embeddings (e.g. :class:`recutils.embeddings.ItemEmbeddings`), projected
    and appended to the item side; they are stored in the saved model.
    """

    name = "torch_cf"
    determinism = "kernel"  # see Recommender.determinism
    needs_item_table = True
    Config = TorchCFConfig

    def __init__(self, config: TorchCFConfig | None = None, item_table: pd.DataFrame | None = None,
                 item_text=None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        if c.side_features and not c.metadata and c.text_dim == 0:
            raise ConfigError("model 'torch_cf': metadata=False leaves no side features unless text_dim > 0 "
                              "(or set side_features=False for a pure CF network)")
        self.item_table = item_table
        self.item_text = item_text
        self.net_ = None
        self.history_: list[dict] = []

    # --- fitting ---------------------------------------------------------------
    def _check_fitted(self):
        if self.net_ is None or self.split_ is None:
            raise NotFittedError(f"{self.name}: call fit() (or TorchCF.load) before scoring")

    def _fit(self, split):
        from .train import fit_net

        if len(split.train) == 0:
            raise RecutilsError("torch_cf: the split has no training ratings")
        table = self.item_table
        if table is None:
            raise RecutilsError("torch_cf needs the movie table for its side features: pass "
                                "item_table=recutils.datasets.movie_table(data_dir) (the CLIs and create() do)")
        if self.config.text_dim > 0 and self.item_text is None:
            raise RecutilsError("torch_cf: text_dim > 0 needs the movies' text embeddings: pass item_text="
                                "recutils.embeddings.compute_item_embeddings(...)")
        t0 = time.perf_counter()
        fit = fit_net(split, table, self.config, item_text=self.item_text if self.config.text_dim > 0 else None)
        self.features_ = fit.features
        self.rating_range_ = fit.rating_range
        self.best_epoch_ = fit.best_epoch
        self.best_val_rmse_ = fit.best_val_rmse
        self.net_ = fit.net
        _perturb_weights(self.net_)  # identity outside a kernel audit (recutils.provenance)
        self.history_ = fit.history
        self.fit_seconds_ = time.perf_counter() - t0

    # --- inference -------------------------------------------------------------
    def predict(self, user_indices, item_indices) -> np.ndarray:
        """Predicted ratings for (user, item) index pairs, clipped to the training range."""
        import torch

        from .net import predict_clipped

        self._check_fitted()
        u = np.array(user_indices, dtype=np.int64)
        i = np.array(item_indices, dtype=np.int64)
        if u.shape != i.shape:
            raise RecutilsError(f"predict: {u.shape} user indices but {i.shape} item indices")
        with torch_threads(self.config.num_threads):
            return predict_clipped(self.net_, torch.from_numpy(u), torch.from_numpy(i), self.rating_range_)

    def score(self, user_indices) -> np.ndarray:
        """Unclipped predicted ratings of every item for each user: (n_users, n_items) float32.

        Item-side first-layer activations are computed once; the user × item grid goes through
        the rest of the network in chunks of ``config.score_chunk`` pairs.
        """
        import torch

        self._check_fitted()
        users = torch.as_tensor(np.atleast_1d(np.asarray(user_indices, dtype=np.int64)))
        net, n_items = self.net_, self.n_items
        out = np.empty((len(users), n_items), np.float32)
        with torch_threads(self.config.num_threads), torch.no_grad():
            hi, q, bi = net.item_side(torch.arange(n_items))
            hu, p, bu = net.user_side(users)
            chunk = self.config.score_chunk
            if self.config.biases:
                base = bu[:, None] + bi[None, :] + net.mu
            else:
                base = net.mu.expand(len(users), n_items).clone()
            if self.config.dot:
                base += p @ q.T
            # blocks of ≤ score_chunk pairs: several users × all items, or one user × an item slice
            u_step = max(1, chunk // max(n_items, 1))
            i_step = min(n_items, chunk) if u_step == 1 else n_items
            for s in range(0, len(users), u_step):
                hs = hu[s:s + u_step]
                for j in range(0, n_items, i_step):
                    hj = hi[j:j + i_step]
                    grid = (hs[:, None, :] + hj[None, :, :]).reshape(-1, hj.shape[1])
                    base[s:s + u_step, j:j + i_step] += net.head(grid).reshape(len(hs), len(hj))
            out[:] = base.numpy()
        return out

    # --- persistence -----------------------------------------------------------
    def save(self, directory) -> Path:
        """Write ``model.safetensors`` + ``config.json`` into ``directory`` (atomically)."""
        import torch
        from safetensors.torch import save_file

        self._check_fitted()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        sp = self.split_
        tensors = {f"net.{k}": v.detach().contiguous() for k, v in self.net_.state_dict().items()}
        tensors["known_items"] = tensors["net.known_items"].to(torch.uint8)
        del tensors["net.known_items"]
        tensors.update({
            "split.users": torch.as_tensor(np.asarray(sp.users, np.int64)),
            "split.items": torch.as_tensor(np.asarray(sp.items, np.int64)),
            "split.cold_items": torch.as_tensor(np.asarray(sp.cold_items, np.uint8)),
            "train.uidx": torch.as_tensor(sp.train["uidx"].to_numpy(np.int64, copy=True)),
            "train.iidx": torch.as_tensor(sp.train["iidx"].to_numpy(np.int64, copy=True)),
            "train.rating": torch.as_tensor(sp.train[COL_RATING].to_numpy(np.float64, copy=True)),
        })
        with atomic_path(d / WEIGHTS_FILE, suffix=".safetensors") as tmp:
            save_file(tensors, str(tmp))
        f = self.features_
        meta = {
            "model": self.name,
            "config": dataclasses.asdict(self.config),
            "split_name": sp.name,
            "n_users": int(sp.n_users), "n_items": int(sp.n_items),
            "numeric_features": f.numeric_names, "genre_features": f.genre_names,
            "scaler_mean": f.mean.tolist(), "scaler_std": f.std.tolist(),
            "rating_range": list(self.rating_range_),
            "best_epoch": int(self.best_epoch_), "best_val_rmse": float(self.best_val_rmse_),
            "history": self.history_,
        }
        write_json(d / CONFIG_FILE, meta)
        return d

    @classmethod
    def load(cls, directory) -> "TorchCF":
        """Rebuild a fitted model from :meth:`save`'s folder (identical predictions)."""
        from safetensors.torch import load_file

        from ...splits import TrainData
        from .net import TorchCFNet

        d = Path(directory)
        if not (d / CONFIG_FILE).is_file() or not (d / WEIGHTS_FILE).is_file():
            raise RecutilsError(f"{d} is not a saved torch_cf model (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
        meta = json.loads((d / CONFIG_FILE).read_text())
        if meta.get("model") != cls.name:
            raise RecutilsError(f"{d / CONFIG_FILE} describes model {meta.get('model')!r}, not {cls.name!r}")
        config = TorchCFConfig(**meta["config"])
        t = load_file(str(d / WEIGHTS_FILE))
        users, items = t.pop("split.users").numpy(), t.pop("split.items").numpy()
        cold = t.pop("split.cold_items").numpy().astype(bool)
        uidx, iidx = t.pop("train.uidx").numpy(), t.pop("train.iidx").numpy()
        rating = t.pop("train.rating").numpy()
        state = {k.removeprefix("net."): v for k, v in t.items() if k.startswith("net.")}
        state["known_items"] = t["known_items"].bool()
        n_implicit = state["implicit_items"].shape[0] if "implicit_items" in state else 0
        n_text = state["item_text"].shape[1] if "item_text" in state else 0
        net = TorchCFNet(len(users), len(items), state["item_numeric"].shape[1], state["item_genres"].shape[1],
                         config, n_implicit, n_text)
        net.load_state_dict(state)
        model = cls(config)
        model.net_ = net.eval()
        train = pd.DataFrame({COL_USER: users[uidx], COL_ITEM: items[iidx], COL_RATING: rating,
                              "uidx": uidx, "iidx": iidx})
        model.split_ = TrainData(meta.get("split_name", "loaded"), train, users, items, cold)
        model.rating_range_ = tuple(meta["rating_range"])
        model.features_ = ItemFeatures(state["item_numeric"].numpy(), state["item_genres"].numpy(),
                                       meta["numeric_features"], meta["genre_features"],
                                       np.asarray(meta["scaler_mean"]), np.asarray(meta["scaler_std"]))
        model.best_epoch_, model.best_val_rmse_ = meta["best_epoch"], meta["best_val_rmse"]
        model.history_ = meta["history"]
        return model

    def config_dict(self) -> dict[str, Any]:
        """The model name and every config field (saved next to metrics)."""
        return {"model": self.name, **dataclasses.asdict(self.config)}
