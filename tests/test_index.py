"""Index builds: manifest, staleness, incremental embedding, atomic swap, unreadable index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.chunking import ChunkSettings
from bot.corpus import load_corpus
from bot.encoders import load_encoder
from bot.index import FORMAT_VERSION, IndexUnavailable, build_index, check, current_build, load_index
from bot.tokens import Tokenizer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("use-multilingual")


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer()


def _small_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("eo-14330.en.md", "eo-14330.zh-Hant.md", "glossary.en.md"):
        shutil.copy(REPO / "corpus" / "explainers" / name, root / name)
    return root


def test_build_writes_manifest_and_loads(tmp_path: Path, encoder, tokenizer) -> None:
    corpus = load_corpus(_small_corpus(tmp_path / "c"))
    events: list[tuple[str, int, int]] = []
    report = build_index(corpus, tmp_path / "idx", encoder, tokenizer, progress=lambda *e: events.append(e))
    m = report.manifest
    assert m.format_version == FORMAT_VERSION and m.encoder == "use-multilingual" and m.dim == 512
    assert m.n_documents == 3 and m.n_chunks > 3 and m.corpus_fingerprint == corpus.fingerprint
    assert {d["doc_id"] for d in m.documents} == {"eo-14330.en.md", "eo-14330.zh-Hant.md", "glossary.en.md"}
    assert events and events[-1] == ("bm25", 1, 1) and ("embed", m.n_chunks, m.n_chunks) in events
    index = load_index(tmp_path / "idx")
    assert len(index.chunks) == index.dense.ntotal == m.n_chunks
    assert len(index.glossary) > 20  # the glossary document's table feeds query expansion
    # No pickle anywhere in the build.
    for f in index.path.rglob("*"):
        assert f.suffix not in (".pkl", ".pickle")
    assert check(tmp_path / "idx", corpus, "use-multilingual", ChunkSettings()).ok


def test_rebuild_after_one_change_embeds_only_that_document(tmp_path: Path, encoder, tokenizer) -> None:
    root = _small_corpus(tmp_path / "c")
    first = build_index(load_corpus(root), tmp_path / "idx", encoder, tokenizer)
    old_build = current_build(tmp_path / "idx")
    (root / "new.md").write_text("---\ntitle: Note\nlanguage: en\n---\n## Fees\nA plan fee note about USD 42.\n", encoding="utf-8")
    corpus = load_corpus(root)
    status = check(tmp_path / "idx", corpus, "use-multilingual", ChunkSettings())
    assert not status.ok and "new.md" in status.reason
    second = build_index(corpus, tmp_path / "idx", encoder, tokenizer)
    assert first.embedded == first.manifest.n_chunks
    assert second.embedded == 1
    # The old build was replaced atomically and removed.
    assert current_build(tmp_path / "idx") != old_build and not old_build.exists()


def test_stale_reasons(tmp_path: Path, encoder, tokenizer) -> None:
    corpus = load_corpus(_small_corpus(tmp_path / "c"))
    assert "no index" in check(tmp_path / "idx", corpus, "use-multilingual", ChunkSettings()).reason
    build_index(corpus, tmp_path / "idx", encoder, tokenizer)
    assert "encoder" in check(tmp_path / "idx", corpus, "st:other", ChunkSettings()).reason
    assert "chunk settings" in check(tmp_path / "idx", corpus, "use-multilingual", ChunkSettings(300, 50)).reason


def test_failed_build_leaves_previous_index(tmp_path: Path, encoder, tokenizer) -> None:
    root = _small_corpus(tmp_path / "c")
    build_index(load_corpus(root), tmp_path / "idx", encoder, tokenizer)
    live = current_build(tmp_path / "idx")

    class Broken:
        name, dim = "use-multilingual", 512

        def encode(self, texts, batch_size=32):
            raise RuntimeError("encoder crashed")

    (root / "extra.md").write_text("# Extra\nSomething new to embed.\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="encoder crashed"):
        build_index(load_corpus(root), tmp_path / "idx", Broken(), tokenizer)
    assert current_build(tmp_path / "idx") == live
    assert not [p for p in (tmp_path / "idx").iterdir() if p.name.startswith(".tmp-")]
    assert len(load_index(tmp_path / "idx").chunks) > 0


def test_missing_and_corrupt_index_are_clear_errors(tmp_path: Path, encoder, tokenizer) -> None:
    with pytest.raises(IndexUnavailable, match="edubot build"):
        load_index(tmp_path / "nothing")
    build_index(load_corpus(_small_corpus(tmp_path / "c")), tmp_path / "idx", encoder, tokenizer)
    build = current_build(tmp_path / "idx")
    (build / "chunks.jsonl").write_text("{not json\n", encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="unreadable"):
        load_index(tmp_path / "idx")
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["n_chunks"] > 0


def test_hnsw_option(tmp_path: Path, encoder, tokenizer) -> None:
    corpus = load_corpus(_small_corpus(tmp_path / "c"))
    report = build_index(corpus, tmp_path / "idx", encoder, tokenizer, faiss_kind="hnsw")
    assert report.manifest.faiss == "hnsw"
    assert load_index(tmp_path / "idx").dense.ntotal == report.manifest.n_chunks


def test_token_cache_round_trip(tmp_path: Path, tokenizer) -> None:
    from bot.index import TokenCache

    texts = ["ERISA第404(a)(1)條", "", "the fiduciary's duties", "ERISA第404(a)(1)條"]
    with TokenCache(tmp_path / "c.sqlite") as cache:
        first = cache.tokens(tokenizer, texts)
    with TokenCache(tmp_path / "c.sqlite") as cache:
        again = cache.tokens(tokenizer, texts)
    assert first == again == [tokenizer.tokens(t) for t in texts]
    assert again[1] == []
