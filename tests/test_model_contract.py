"""One contract every registered model keeps (in the spirit of implicit's
``RecommenderBaseTestMixin``): each model opts in with a small class naming it and, where it
needs more than its config, how to build it on toy data. A registered model without such a
class fails ``test_every_registered_model_opts_in``.

The contract: ``fit`` returns ``self``; ``score`` gives ``(len(users), n_items)`` with no NaN;
``fit`` receives only the training part (a ``TrainData``), whatever it is given;
``rank`` never returns a seen item and returns each item once; a fresh model with the same
config fitted on the same data gives the same scores (seeded); scoring before ``fit`` and an
unknown user are clear errors; ``config_dict`` rebuilds the same config through ``create``;
models with ``save``/``load`` reload to identical scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recutils.errors import NotFoundError, RecutilsError
from recutils.models import NotFittedError, available, create, get_model_class
from recutils.splits import make_split

GENRES = ["Action", "Comedy", "Drama"]


def _ratings(n_users=12, n_items=16, per_user=7, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for j, i in enumerate(rng.choice(n_items, per_user, replace=False)):
            rows.append((u + 1, int(i) + 101, float(rng.integers(1, 11)) / 2, 1000 + 50 * u + j))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


def _item_table(n_items=16, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.arange(101, 101 + n_items)
    has = ids % 5 != 0
    return pd.DataFrame({
        "movieId": ids,
        "genres": [[GENRES[k % 3]] for k in range(n_items)],
        "has_tmdb": has,
        "vote_average": np.where(has, rng.uniform(4, 8, n_items), np.nan),
        "vote_count": np.where(has, rng.integers(1, 5000, n_items), np.nan).astype(float),
        "popularity": np.where(has, rng.uniform(0.5, 50, n_items), np.nan),
    })


def _embeddings(split):
    from recutils.embeddings.items import ItemEmbeddings, normalize_rows

    rng = np.random.default_rng(2)
    return ItemEmbeddings(split.items, normalize_rows(rng.normal(size=(split.n_items, 6))), "toy")


@pytest.fixture(scope="module")
def split():
    r = _ratings()
    test = r.groupby("userId").tail(2).index
    return make_split("toy", r.drop(test), r.loc[test])


class ModelContract:
    """Subclass with ``name`` (and ``params`` / ``make``) to opt a model into the contract."""

    name: str = ""
    params: dict = {}
    supports_save = False

    def make(self, split):
        return create(self.name, **self.params)

    def _fitted(self, split):
        return self.make(split).fit(split.without_test())

    def test_registered_under_its_name(self, split):
        m = self.make(split)
        assert type(m) is get_model_class(self.name) and m.name == self.name

    def test_fit_returns_self(self, split):
        m = self.make(split)
        assert m.fit(split.without_test()) is m

    def test_fit_never_sees_the_test_part(self, split, monkeypatch):
        from recutils.splits import TrainData

        m = self.make(split)
        seen = []
        original = type(m)._fit
        monkeypatch.setattr(type(m), "_fit", lambda self, data: (seen.append(data), original(self, data))[1])
        m.fit(split)  # a whole Split: reduced to its training part before _fit
        assert seen and all(isinstance(d, TrainData) and not hasattr(d, "test") for d in seen)

    def test_scores_shape_and_no_nan(self, split):
        m = self._fitted(split)
        users = np.arange(split.n_users)
        s = np.asarray(m.score(users), dtype=np.float64)
        assert s.shape == (split.n_users, split.n_items)
        assert not np.isnan(s).any()
        assert np.asarray(m.score(users[:3])).shape == (3, split.n_items)

    def test_rank_excludes_seen_items_without_repeats(self, split):
        m = self._fitted(split)
        users = np.arange(split.n_users)
        top = m.rank(users, k=5)
        seen = split.train_binary.toarray().astype(bool)
        assert top.shape == (split.n_users, 5)
        assert not seen[users[:, None], top].any()
        assert all(len(set(row)) == len(row) for row in top.tolist())

    def test_deterministic_with_the_same_config(self, split):
        a = np.asarray(self._fitted(split).score(np.arange(split.n_users)))
        b = np.asarray(self._fitted(split).score(np.arange(split.n_users)))
        np.testing.assert_array_equal(a, b)

    def test_clear_errors_before_fit_and_for_unknown_users(self, split):
        m = self.make(split)
        with pytest.raises(NotFittedError):
            m.rank([0], k=3)
        m.fit(split.without_test())
        with pytest.raises(NotFoundError, match="unknown user"):
            m.recommend(987654, k=3)

    def test_config_dict_rebuilds_the_same_config(self, split):
        m = self.make(split)
        d = m.config_dict()
        assert d.pop("model") == self.name
        assert create(self.name, **d).config == m.config

    def test_save_and_load_give_identical_scores(self, split, tmp_path):
        m = self._fitted(split)
        if not self.supports_save:
            assert not hasattr(type(m), "load"), f"{self.name} can load: opt into the save/load contract"
            return
        m.save(tmp_path / "model")
        again = type(m).load(tmp_path / "model")
        users = np.arange(split.n_users)
        np.testing.assert_array_equal(np.asarray(m.score(users)), np.asarray(again.score(users)))


# --- each registered model opts in -----------------------------------------------------------
class TestMostPop(ModelContract):
    name = "mostpop"


class TestItemKNN(ModelContract):
    name = "itemknn"
    params = {"n_neighbors": 5}


class TestEASE(ModelContract):
    name = "ease"
    params = {"lambda_": 5.0}


class TestEASEr(ModelContract):
    name = "ease_r"
    params = {"lambda_": 5.0}


class TestItemCF(ModelContract):
    name = "itemcf"
    params = {"min_support": 1}


class TestPMF(ModelContract):
    name = "pmf"
    params = {"k": 3, "max_iter": 5}


class TestALS(ModelContract):
    name = "als"
    params = {"factors": 3, "iterations": 2}


class TestExactALS(ModelContract):
    name = "exact_als"
    params = {"factors": 3, "iterations": 2}


class TestSparkALS(ModelContract):
    name = "spark_als"
    params = {"factors": 3, "iterations": 2}

    def make(self, split):
        pytest.importorskip("pyspark")
        return create(self.name, **self.params)


class TestSANSA(ModelContract):
    name = "sansa"
    params = {"lambda_": 5.0, "density": 0.2}

    def make(self, split):
        pytest.importorskip("sansa")  # optional: requirements-sansa.txt (needs SuiteSparse)
        return create(self.name, **self.params)


class TestGlobalMean(ModelContract):
    name = "globalmean"


class TestBias(ModelContract):
    name = "bias"


class TestCornacMF(ModelContract):
    name = "cornac_mf"
    params = {"k": 3, "max_iter": 5}


class TestRandom(ModelContract):
    name = "random"


class TestMetadataPopularity(ModelContract):
    name = "metadata_pop"

    def make(self, split):
        from recutils.models.feature_baselines import MetadataPopularity

        return MetadataPopularity(item_table=_item_table())


class TestContent(ModelContract):
    name = "content"

    def make(self, split):
        from recutils.models.content import Content

        return Content(embeddings=_embeddings(split))


class TestHybrid(ModelContract):
    name = "hybrid"
    params = {"base": {"name": "ease", "params": {"lambda_": 5.0}}}

    def make(self, split):
        from recutils.models.hybrid import Hybrid

        return Hybrid(embeddings=_embeddings(split), **self.params)


class TestTorchCF(ModelContract):
    name = "torch_cf"
    params = dict(embedding_dim=4, feature_dim=2, hidden=[4], batch_size=16, max_epochs=2, patience=1,
                  dropout=0.0, refit=False, implicit=False, progress=False)
    supports_save = True

    def make(self, split):
        pytest.importorskip("torch")
        from recutils.models.torch_cf import TorchCF

        return TorchCF(item_table=_item_table(), **self.params)


class TestTorchCFText(TestTorchCF):
    """torch_cf with text side features (``text_dim``, ``item_text``)."""

    params = {**TestTorchCF.params, "text_dim": 2}

    def make(self, split):
        pytest.importorskip("torch")
        from recutils.models.torch_cf import TorchCF

        return TorchCF(item_table=_item_table(), item_text=_embeddings(split), **self.params)


class TestContentToCF(ModelContract):
    name = "content_to_cf"
    params = {"ease_lambda": 5.0, "ridge_lambda": 1.0}

    def make(self, split):
        from recutils.models.coldstart import ContentToCF

        return ContentToCF(item_table=_item_table(), embeddings=_embeddings(split), **self.params)


class TestContentToCFMLP(TestContentToCF):
    params = {"target": "als", "mapper": "mlp", "als_factors": 3, "als_iterations": 3, "mlp_hidden": 4,
              "mlp_epochs": 5}


class TestContentToCFOptions(TestContentToCF):
    """The issue-24 options together: release-day metadata, PCA text, input dropout, early stopping, onto EASE."""

    params = {"target": "ease", "mapper": "mlp", "ease_lambda": 5.0, "ease_rank": 3, "release_day": True, "text_dim": 2,
              "text_dropout": 0.3, "metadata_dropout": 0.2, "early_stopping": True, "mlp_hidden": 4, "mlp_epochs": 20}


class TestColdBlend(ModelContract):
    name = "cold_blend"
    params = {"blend_weight": 0.3, "meta": {"target": "als", "mapper": "mlp", "text": False, "als_factors": 3,
                                            "als_iterations": 3, "mlp_hidden": 4, "mlp_epochs": 5},
              "text_side": {"ease_lambda": 5.0, "ridge_lambda": 1.0}}

    def make(self, split):
        from recutils.models.coldstart import ColdBlend

        return ColdBlend(item_table=_item_table(), embeddings=_embeddings(split), **self.params)


class TestGenrePopularity(ModelContract):
    name = "genre_pop"

    def make(self, split):
        from recutils.models.coldstart import GenrePopularity

        return GenrePopularity(item_table=_item_table())


class TestGenrePopularityPersonal(TestGenrePopularity):
    params = {"personal": True}

    def make(self, split):
        from recutils.models.coldstart import GenrePopularity

        return GenrePopularity(item_table=_item_table(), **self.params)


def test_every_registered_model_opts_in():
    opted = {c.name for c in ModelContract.__subclasses__()}
    assert set(available()) == opted, ("every registered model needs a contract class here: missing "
                                       f"{sorted(set(available()) - opted)}, unknown {sorted(opted - set(available()))}")


def test_unknown_model_lists_the_registry():
    with pytest.raises(RecutilsError, match="valid models: .*mostpop"):
        get_model_class("nope")
