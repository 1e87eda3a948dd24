"""The on-disk index: FAISS over normalised vectors beside BM25, with a manifest.

Layout of an index folder::

    index/
      CURRENT                 name of the live build (replaced atomically)
      build-<id>/
        manifest.json         format, encoder, dim, corpus fingerprint, settings
        chunks.jsonl          chunk text, offsets, section, document metadata
        dense.faiss           FAISS index (flat, or HNSW for large corpora)
        bm25/                 BM25 over chunks (bot.bm25: JSON + .npy, no pickle)
        bm25_sent/            BM25 over sentences
        sentences.npy         sentence -> chunk row
        glossary.json         bilingual glossary entries for query expansion
      embeddings.sqlite       embedding cache, kept across builds

A build is written into a fresh folder and made live by replacing ``CURRENT`` in
one rename, so a reader never sees half an index. Nothing here uses pickle.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from . import bm25
from .chunking import Chunk, ChunkSettings, Span, chunk_document
from .corpus import Corpus, Document
from .encoders import EmbeddingCache, Encoder, embed_with_cache, text_key
from .glossary import Entry, Glossary
from .locks import BUILD_LOCK, Busy, exclusive
from .script import normalise
from .tokens import TOKENIZER_VERSION, Tokenizer

log = logging.getLogger(__name__)

FORMAT_VERSION = 5  # 5: BM25 stored by bot.bm25; document frequencies read off it
HNSW_THRESHOLD = 50_000  # chunks; below it exact search is fast enough
BM25_K1 = 0.9
BM25_B = 0.4


class IndexUnavailable(RuntimeError):
    """Missing, stale or unreadable index, with the command that fixes it."""


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """A chunk as stored in the index, with the metadata a citation needs."""

    chunk_id: str
    doc_id: str
    ordinal: int
    title: str
    section: str
    lang: str
    url: str
    date: str
    kind: str
    topic: str
    text: str
    start: int
    end: int
    sentences: tuple[tuple[int, int], ...]  # offsets relative to ``text``

    @property
    def index_text(self) -> str:
        """What BM25 and the encoder see: title and section keep a chunk in context."""
        head = " / ".join(p for p in (self.title, self.section) if p)
        return f"{head}\n{self.text}" if head else self.text

    def sentence_texts(self) -> list[str]:
        return [self.text[s:e] for s, e in self.sentences]


_CHUNK_FIELDS = tuple(ChunkRecord.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Manifest:
    format_version: int
    encoder: str
    dim: int
    corpus_root: str
    corpus_fingerprint: str
    chunk_size: int
    chunk_overlap: int
    bm25_k1: float
    bm25_b: float
    faiss: str
    tokenizer_version: int
    n_documents: int
    n_chunks: int
    n_sentences: int
    built_at: str
    build_seconds: float
    embedded: int
    documents: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        names = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in names}
        values.setdefault("tokenizer_version", 0)  # older builds: stale
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Status:
    ok: bool
    reason: str  # "" when ok
    manifest: Manifest | None = None


def _records(doc: Document, chunks: list[Chunk]) -> list[ChunkRecord]:
    return [
        ChunkRecord(
            chunk_id=c.chunk_id,
            doc_id=doc.doc_id,
            ordinal=c.ordinal,
            title=doc.title,
            section=c.section,
            lang=doc.lang,
            url=doc.url,
            date=doc.date,
            kind=doc.kind,
            topic=doc.topic,
            text=c.text,
            start=c.start,
            end=c.end,
            sentences=tuple((s.start - c.start, s.end - c.start) for s in c.sentences),
        )
        for c in chunks
    ]


def chunk_corpus(corpus: Corpus, settings: ChunkSettings) -> list[ChunkRecord]:
    records: list[ChunkRecord] = []
    for doc in corpus.documents:
        records.extend(_records(doc, chunk_document(doc, settings)))
    return records


def _faiss_index(vectors: np.ndarray, kind: str):  # noqa: ANN202 - faiss has no stubs
    import faiss

    dim = vectors.shape[1]
    if kind == "auto":
        kind = "hnsw" if len(vectors) >= HNSW_THRESHOLD else "flat"
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    else:
        raise ValueError(f"unknown FAISS index kind {kind!r}: use auto, flat or hnsw")
    if len(vectors):
        index.add(vectors)
    return index, kind


def _bm25(token_lists: list[list[str]]) -> bm25s.BM25:
    # An empty corpus gets one empty placeholder document, so shapes stay valid.
    return bm25.build(token_lists or [[]], BM25_K1, BM25_B)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


_SEP = "\x1f"  # unit separator: never inside a token (tokens are words and bigrams)


class TokenCache:
    """BM25 tokens in SQLite keyed by (tokenizer version, text hash), joined by U+001F.

    Tokenising DRCD's 1,000 paragraphs and their sentences takes about 0.7 s (it
    took 3 s with Python jieba); with this cache a rebuild after one document
    changed tokenises only that document, and reads the rest in 0.1 s.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path))
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS bm25_tokens (tokenizer INTEGER NOT NULL, key TEXT NOT NULL, "
            "tokens TEXT NOT NULL, PRIMARY KEY (tokenizer, key))"
        )

    def __enter__(self) -> TokenCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def tokens(self, tokenizer: Tokenizer, texts: list[str]) -> list[list[str]]:
        keys = [text_key(t) for t in texts]
        found: dict[str, list[str]] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):
            batch = unique[i : i + 500]
            rows = self._db.execute(
                f"SELECT key, tokens FROM bm25_tokens WHERE tokenizer = ? AND key IN ({','.join('?' * len(batch))})",
                [TOKENIZER_VERSION, *batch],
            )
            found.update((k, v.split(_SEP) if v else []) for k, v in rows)
        new = {}
        for key, text in zip(keys, texts):
            if key not in found and key not in new:
                new[key] = tokenizer.tokens(text)
        if new:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO bm25_tokens (tokenizer, key, tokens) VALUES (?, ?, ?)",
                    [(TOKENIZER_VERSION, k, _SEP.join(v)) for k, v in new.items()],
                )
        found.update(new)
        return [found[k] for k in keys]


@dataclass
class BuildReport:
    manifest: Manifest
    path: Path
    embedded: int
    seconds: float


def build_index(
    corpus: Corpus,
    index_dir: Path,
    encoder: Encoder,
    tokenizer: Tokenizer,
    settings: ChunkSettings = ChunkSettings(),
    faiss_kind: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
    wait: float = 600.0,
) -> BuildReport:
    """Chunk, tokenise and embed ``corpus`` into a new build in ``index_dir``.

    ``progress(stage, done, total)`` is called as work advances. Embeddings come from
    the cache where possible. Tokenising runs in a thread while the encoder works, so
    BM25 is ready when the vectors are. One build runs at a time per index folder: a
    second waits up to ``wait`` seconds, then raises :class:`IndexUnavailable`.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive(index_dir / BUILD_LOCK, f"an index build in {index_dir}", timeout=wait):
            return _build(corpus, index_dir, encoder, tokenizer, settings, faiss_kind, progress)
    except Busy as exc:
        raise IndexUnavailable(str(exc)) from None


def _build(
    corpus: Corpus,
    index_dir: Path,
    encoder: Encoder,
    tokenizer: Tokenizer,
    settings: ChunkSettings,
    faiss_kind: str,
    progress: Callable[[str, int, int], None] | None,
) -> BuildReport:
    started = time.perf_counter()
    index_dir.mkdir(parents=True, exist_ok=True)
    records = chunk_corpus(corpus, settings)
    texts = [normalise(r.index_text) for r in records]
    sentence_owner: list[int] = []
    sentence_texts: list[str] = []
    for row, r in enumerate(records):
        for s in r.sentence_texts():
            sentence_texts.append(s)
            sentence_owner.append(row)

    lexical: dict[str, Any] = {}

    def build_lexical() -> None:
        # Runs while the encoder works: tokenising (cached) and both BM25 indexes.
        try:
            with TokenCache(index_dir / "embeddings.sqlite") as cache:
                chunk_tokens = cache.tokens(tokenizer, [r.index_text for r in records])
                sentence_tokens = cache.tokens(tokenizer, sentence_texts)
            lexical["bm25"] = _bm25(chunk_tokens)
            lexical["bm25_sent"] = _bm25(sentence_tokens)
        except BaseException as exc:  # surfaced in the main thread below
            lexical["error"] = exc

    worker = threading.Thread(target=build_lexical, name="bm25-build", daemon=True)
    worker.start()
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("embed", done, total)

    cache = EmbeddingCache(index_dir / "embeddings.sqlite")
    try:
        keys_total = len(set(texts))
        total = keys_total
        if progress:
            progress("embed", 0, total)
        vectors, embedded = embed_with_cache(encoder, texts, cache, progress=step)
        if progress:
            progress("embed", total, total)
    finally:
        cache.close()
    if progress:
        progress("bm25", 0, 1)
    worker.join()
    if "error" in lexical:
        raise lexical["error"]
    bm25_chunks, bm25_sents = lexical["bm25"], lexical["bm25_sent"]
    dense, kind = _faiss_index(vectors, faiss_kind)
    if progress:
        progress("bm25", 1, 1)

    build_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    tmp = index_dir / f".tmp-{build_id}"
    final = index_dir / f"build-{build_id}"
    tmp.mkdir()
    try:
        import faiss

        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for r in records:
                # Field by field: dataclasses.asdict deep-copies, measured 0.18 s for DRCD.
                fh.write(json.dumps({f: getattr(r, f) for f in _CHUNK_FIELDS}, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        faiss.write_index(dense, str(tmp / "dense.faiss"))
        bm25.save(bm25_chunks, tmp / "bm25")
        bm25.save(bm25_sents, tmp / "bm25_sent")
        np.save(tmp / "sentences.npy", np.asarray(sentence_owner, dtype=np.int32))
        glossary = Glossary.from_documents(corpus.documents)
        _write_text(tmp / "glossary.json", json.dumps([asdict(e) for e in glossary.entries], ensure_ascii=False))
        seconds = time.perf_counter() - started
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            encoder=encoder.name,
            dim=encoder.dim,
            corpus_root=str(Path(corpus.root).resolve()),
            corpus_fingerprint=corpus.fingerprint,
            chunk_size=settings.size,
            chunk_overlap=settings.overlap,
            bm25_k1=BM25_K1,
            bm25_b=BM25_B,
            faiss=kind,
            tokenizer_version=TOKENIZER_VERSION,
            n_documents=len(corpus.documents),
            n_chunks=len(records),
            n_sentences=len(sentence_texts),
            built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            build_seconds=round(seconds, 3),
            embedded=embedded,
            documents=[
                {"doc_id": d.doc_id, "title": d.title, "lang": d.lang, "date": d.date, "url": d.url,
                 "kind": d.kind, "topic": d.topic, "content_hash": d.content_hash,
                 "attribution": d.attribution, "licence": d.licence,
                 "chunks": sum(1 for r in records if r.doc_id == d.doc_id)}
                for d in corpus.documents
            ],
        )
        _write_text(tmp / "manifest.json", json.dumps(asdict(manifest), ensure_ascii=False, indent=1))
        _fsync_dir(tmp)
        os.replace(tmp, final)
        pointer = index_dir / f".CURRENT-{build_id}"
        _write_text(pointer, final.name + "\n")
        os.replace(pointer, index_dir / "CURRENT")
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    _remove_old_builds(index_dir, keep=final.name)
    return BuildReport(manifest, final, embedded, time.perf_counter() - started)


def _remove_old_builds(index_dir: Path, keep: str) -> None:
    for child in index_dir.iterdir():
        if child.is_dir() and child.name.startswith(("build-", ".tmp-")) and child.name != keep:
            shutil.rmtree(child, ignore_errors=True)


def current_build(index_dir: Path) -> Path | None:
    pointer = index_dir / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    path = index_dir / name
    return path if name and path.is_dir() else None


def read_manifest(index_dir: Path) -> Manifest | None:
    build = current_build(index_dir)
    if build is None:
        return None
    try:
        return Manifest.from_json(json.loads((build / "manifest.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def check(index_dir: Path, corpus: Corpus, encoder_name: str, settings: ChunkSettings) -> Status:
    """Is the index in ``index_dir`` built from this corpus with these settings?"""
    manifest = read_manifest(index_dir)
    if manifest is None:
        return Status(False, f"no index in {index_dir}")
    if manifest.format_version != FORMAT_VERSION:
        return Status(False, f"index format {manifest.format_version} is older than {FORMAT_VERSION}", manifest)
    if manifest.tokenizer_version != TOKENIZER_VERSION:
        return Status(False, "the tokenizer changed since the index was built", manifest)
    if manifest.encoder != encoder_name:
        return Status(False, f"index was built with encoder {manifest.encoder}, not {encoder_name}", manifest)
    if (manifest.chunk_size, manifest.chunk_overlap) != (settings.size, settings.overlap):
        return Status(False, "chunk settings changed", manifest)
    if manifest.corpus_fingerprint != corpus.fingerprint:
        old = {d["doc_id"]: d["content_hash"] for d in manifest.documents}
        new = {d.doc_id: d.content_hash for d in corpus.documents}
        changed = sorted(k for k in new.keys() | old.keys() if old.get(k) != new.get(k))
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        return Status(False, f"corpus changed since the index was built ({shown})", manifest)
    return Status(True, "", manifest)


@dataclass
class LoadedIndex:
    """An index in memory, ready for search."""

    manifest: Manifest
    chunks: list[ChunkRecord]
    dense: Any  # faiss.Index
    bm25: bm25s.BM25
    bm25_sentences: bm25s.BM25
    sentence_owner: np.ndarray
    df: dict[str, int]
    glossary: Glossary
    path: Path

    def idf(self, token: str) -> float:
        n = max(len(self.chunks), 1)
        d = self.df.get(token, 0)
        return math.log(1 + (n - d + 0.5) / (d + 0.5))


def load_index(index_dir: Path) -> LoadedIndex:
    """The live build in ``index_dir``.

    A build replaced (and removed) while being read is read again from the new one.
    """
    for _ in range(3):
        build = current_build(index_dir)
        try:
            return _load_build(index_dir, build)
        except IndexUnavailable:
            if build is None or current_build(index_dir) == build:
                raise
    return _load_build(index_dir, current_build(index_dir))


def _load_build(index_dir: Path, build: Path | None) -> LoadedIndex:
    import faiss

    if build is None:
        raise IndexUnavailable(f"no index in {index_dir}: run `edubot build`")
    try:
        manifest = Manifest.from_json(json.loads((build / "manifest.json").read_text(encoding="utf-8")))
        chunks = []
        with open(build / "chunks.jsonl", encoding="utf-8") as fh:
            for line in fh:
                data = json.loads(line)
                data["sentences"] = tuple(tuple(s) for s in data["sentences"])
                chunks.append(ChunkRecord(**data))
        dense = faiss.read_index(str(build / "dense.faiss"))
        bm25_chunks = bm25.load(build / "bm25")
        bm25_sent = bm25.load(build / "bm25_sent")
        owner = np.load(build / "sentences.npy", allow_pickle=False)
        df = bm25.document_frequencies(bm25_chunks)
        entries = json.loads((build / "glossary.json").read_text(encoding="utf-8"))
        glossary = Glossary(tuple(Entry(tuple(e["english"]), tuple(e["chinese"])) for e in entries))
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise IndexUnavailable(f"index in {index_dir} is unreadable ({exc}): run `edubot build` to rebuild it") from exc
    if dense.ntotal != len(chunks):
        raise IndexUnavailable(f"index in {index_dir} is inconsistent: run `edubot build` to rebuild it")
    return LoadedIndex(manifest, chunks, dense, bm25_chunks, bm25_sent, owner, df, glossary, build)


__all__ = [
    "BuildReport", "ChunkRecord", "IndexUnavailable", "LoadedIndex", "Manifest", "Status", "Span",
    "build_index", "check", "chunk_corpus", "current_build", "load_index", "read_manifest",
]
