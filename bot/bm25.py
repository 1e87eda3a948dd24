"""BM25 indexes: built with numpy from token lists, stored as ``.npy`` arrays and JSON.

The scores are exactly those of bm25s with its default (Lucene) variant::

    idf(t)    = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    score(t,d) = idf(t) * tf / (tf + k1 * (1 - b + b * len(d) / avg_len))

and the index is a ``bm25s.BM25`` object, so searching is bm25s's own. Only building
and storing differ: bm25s counts terms document by document in Python (0.87 s for
DRCD dev's 1,000 paragraphs and 10,580 sentences on this machine) and writes its
vocabulary through a slow JSON path; here both are a few numpy calls
(``python -m bench.speed profile`` prints the stages). ``tests/test_bm25.py`` checks
that the two give the same scores.

Files in a BM25 folder: ``params.json`` (k1, b, number of documents), ``vocab.json``
(tokens in id order), ``data.npy``, ``indices.npy``, ``indptr.npy`` (a sparse
token-by-document score matrix in CSC form). Nothing is pickled.
"""

from __future__ import annotations

import json
import os
from itertools import chain
from pathlib import Path

import bm25s
import numpy as np

FILES = ("params.json", "vocab.json", "data.npy", "indices.npy", "indptr.npy")


def _model(k1: float, b: float, vocab: dict[str, int], data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
           num_docs: int) -> bm25s.BM25:
    model = bm25s.BM25(k1=k1, b=b)
    model.vocab_dict = vocab
    model.unique_token_ids_set = set(range(len(vocab)))
    model.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": num_docs}
    model.nonoccurrence_array = None
    return model


def build(token_lists: list[list[str]], k1: float, b: float) -> bm25s.BM25:
    """A BM25 index over ``token_lists`` (one list of tokens per document)."""
    flat = list(chain.from_iterable(token_lists))
    # Tokens in order of first use, then the empty token as bm25s adds it.
    vocab = {t: i for i, t in enumerate(dict.fromkeys([*flat, ""]))}
    ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
    n_docs, n_vocab = len(token_lists), len(vocab)
    lengths = np.fromiter((len(toks) for toks in token_lists), dtype=np.int64, count=n_docs)
    docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    # One entry per (token, document) pair, sorted by token then document: CSC order.
    pairs, tf = np.unique(ids * max(n_docs, 1) + docs, return_counts=True)
    token, doc = pairs // max(n_docs, 1), pairs % max(n_docs, 1)
    df = np.bincount(token, minlength=n_vocab)
    idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    avg_len = float(lengths.mean()) if n_docs else 0.0
    norm = k1 * (1 - b + b * lengths / avg_len) if avg_len > 0 else np.full(n_docs, k1)
    data = (idf[token] * tf / (tf + norm[doc])).astype(np.float32)
    indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int32)
    return _model(k1, b, vocab, data, doc.astype(np.int32), indptr, n_docs)


def document_frequencies(model: bm25s.BM25) -> dict[str, int]:
    """How many documents hold each token, read off the index."""
    df = np.diff(model.scores["indptr"]).tolist()
    return {t: d for t, d in zip(model.vocab_dict, df) if d}


def save(model: bm25s.BM25, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    scores = model.scores
    for name in ("data", "indices", "indptr"):
        np.save(folder / f"{name}.npy", np.asarray(scores[name]), allow_pickle=False)
    vocab = sorted(model.vocab_dict, key=model.vocab_dict.__getitem__)
    for name, value in (("vocab.json", vocab),
                        ("params.json", {"k1": model.k1, "b": model.b, "num_docs": int(scores["num_docs"])})):
        with open(folder / name, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(value, ensure_ascii=False))
            fh.flush()
            os.fsync(fh.fileno())


def load(folder: Path) -> bm25s.BM25:
    """The index saved in ``folder``; ``ValueError`` if its files do not fit together."""
    params = json.loads((folder / "params.json").read_text(encoding="utf-8"))
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in ("data", "indices", "indptr")}
    if not isinstance(vocab, list) or len(arrays["indptr"]) != len(vocab) + 1 \
            or len(arrays["data"]) != len(arrays["indices"]) or int(arrays["indptr"][-1]) != len(arrays["data"]):
        raise ValueError(f"BM25 files in {folder} do not match each other")
    return _model(float(params["k1"]), float(params["b"]), {t: i for i, t in enumerate(vocab)},
                  arrays["data"], arrays["indices"], arrays["indptr"], int(params["num_docs"]))
