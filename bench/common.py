"""The compared rows, their rankers and the retrieval metrics.

Every row ranks the same chunks of the same index (``LoadedIndex.chunks``):

* ``bm25-raw``  BM25 with the project's tokenizer but no script normalisation
  (no OpenCC ``t2s``): jieba on the text as written;
* ``bm25``      BM25 with the project's tokenizer (NFKC, ``t2s``, lower case);
* ``dense``     the project's encoder over normalised text, nothing else;
* ``hybrid``    the project's retrieval, ``Engine.search`` / ``Engine.answer``;
* ``recipe``    the common recipe and peer baseline: FAISS ``IndexFlatIP`` over the
  same encoder applied to the original text, no BM25, no OpenCC.

Only the hybrid row calls the project's retrieval code, so rerunning a benchmark
after a change to ``bot/retrieval.py`` shows the new numbers; the other rows are
fixed references.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from bot.encoders import EmbeddingCache, Encoder, embed_with_cache
from bot.index import BM25_B, BM25_K1, ChunkRecord
from bot.script import normalise
from bot.tokens import Tokenizer

from .recipe import Recipe


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    label: str


ROWS: tuple[Row, ...] = (
    Row("bm25-raw", "BM25, no script normalisation"),
    Row("bm25", "BM25, normalised (project tokenizer)"),
    Row("dense", "Dense only (USE, normalised text)"),
    Row("hybrid", "Project hybrid (bot.retrieval)"),
    Row("recipe", "Common recipe: FAISS IndexFlatIP + USE, original text"),
)
ROW_KEYS = tuple(r.key for r in ROWS)
LABELS = {r.key: r.label for r in ROWS}
PEER = "recipe"


# -- encoders ------------------------------------------------------------------------


class CachedEncoder:
    """An encoder that remembers vectors in the project's :class:`EmbeddingCache`.

    Same name and dimension as the wrapped encoder, so indexes built with it are
    interchangeable. Set ``use_cache = False`` to time the real encoder.
    """

    def __init__(self, inner: Encoder, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.cache = cache
        self.use_cache = True

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not self.use_cache:
            return self.inner.encode(texts, batch_size=batch_size)
        return embed_with_cache(self.inner, list(texts), self.cache, batch_size=batch_size)[0]


# -- tokenizers ----------------------------------------------------------------------


class RawTokenizer(Tokenizer):
    """The project's tokenizer with script normalisation disabled.

    Same jieba words, stopwords and bigrams, but text is only NFKC-folded and
    lower-cased: no OpenCC ``t2s``. The stopword list keeps the words as written in
    ``bot/data/stopwords.txt`` (it lists both scripts), instead of their Simplified
    forms.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        text = resources.files("bot.data").joinpath("stopwords.txt").read_text(encoding="utf-8")
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        self._stop = frozenset(self._fold(line) for line in lines if line)

    @staticmethod
    def _fold(text: str) -> str:
        return unicodedata.normalize("NFKC", text).lower()

    def prepare(self, text: str) -> str:
        # Tokenizer.prepare minus t2s: keep its ASCII rules ("401(k)", "u.s.", "1,000").
        from bot import tokens as project_tokens

        norm = self._fold(text)
        norm = project_tokens._PAREN_LETTER.sub(r"\1\2", norm)
        norm = project_tokens._DOTTED.sub(r"\1\2", norm)
        return project_tokens._THOUSANDS.sub("", norm)


# -- rankers -------------------------------------------------------------------------


class LexicalRanker:
    """bm25s (k1, b as the project's index) over the chunks' index text."""

    def __init__(self, chunks: Sequence[ChunkRecord], tokenizer: Tokenizer) -> None:
        import bm25s

        self.tokenizer = tokenizer
        self.model = bm25s.BM25(k1=BM25_K1, b=BM25_B)
        self.model.index([tokenizer.tokens(c.index_text) for c in chunks] or [[]], show_progress=False)
        self.n = len(chunks)

    def rank(self, question: str, n: int) -> list[int]:
        ids = self.model.get_tokens_ids(self.tokenizer.tokens(question))
        if not ids or not self.n:
            return []
        scores = np.asarray(self.model.get_scores_from_ids(ids))[: self.n]
        n = min(n, self.n)
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [int(r) for r in top if scores[r] > 0]


class DenseRanker:
    """Inner-product search over a FAISS index of unit vectors."""

    def __init__(self, index, encoder: Encoder, normalise_query: bool) -> None:  # noqa: ANN001 - faiss
        self.index = index
        self.encoder = encoder
        self.normalise_query = normalise_query

    def rank(self, question: str, n: int) -> list[int]:
        text = normalise(question) if self.normalise_query else question
        _, rows = self.index.search(self.encoder.encode([text]), min(n, self.index.ntotal))
        return [int(r) for r in rows[0] if r >= 0]


class HybridRanker:
    """The project's retrieval, exactly as ``Engine.search`` runs it."""

    def __init__(self, engine) -> None:  # noqa: ANN001 - bot.engine.Engine
        self.engine = engine

    def rank(self, question: str, n: int) -> list[int]:
        return [h.row for h in self.engine.search(question, k=n).hits]


def build_rankers(engine, encoder: Encoder) -> dict[str, object]:  # noqa: ANN001
    """One ranker per row over ``engine.index.chunks``, in :data:`ROWS` order."""
    chunks = engine.index.chunks
    return {
        "bm25-raw": LexicalRanker(chunks, RawTokenizer()),
        "bm25": LexicalRanker(chunks, engine.tokenizer),
        "dense": DenseRanker(engine.index.dense, encoder, normalise_query=True),
        "hybrid": HybridRanker(engine),
        "recipe": DenseRanker(Recipe.build([c.index_text for c in chunks], encoder).index, encoder, normalise_query=False),
    }


def query_texts(questions: Sequence[str]) -> list[str]:
    """Everything the rankers will embed for ``questions``: raw and normalised forms."""
    return list(dict.fromkeys([*questions, *(normalise(q) for q in questions)]))


# -- metrics -------------------------------------------------------------------------


def recall(ranks: Sequence[int | None], k: int) -> float:
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else float("nan")


def mrr(ranks: Sequence[int | None]) -> float:
    return sum(1.0 / r for r in ranks if r) / len(ranks) if ranks else float("nan")


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
