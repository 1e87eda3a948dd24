"""Hybrid retrieval: BM25 over chunks and sentences, dense vectors, evidence-weighted fusion.

Scores are fused on an absolute scale instead of by rank:

* lexical: the BM25 score of the chunk plus the best BM25 score of one of its
  sentences, each divided by the score a passage matching every query term would
  get. Query terms the corpus has never seen (English words over Chinese text)
  still count in that ideal, so lexical evidence is small exactly when the words
  of the question are not in the corpus, and the dense score decides;
* dense: cosine similarity of the normalised question and chunk vectors;
* a small bonus for passages in the asker's language (English passages for English
  questions, Chinese for Chinese) where they answer as well.

Naive reciprocal-rank fusion treats a weak dense ranking as equal evidence and was
measured to pull DRCD recall@1 from 0.92 to 0.77; this scheme lets each signal
count as much as it actually matched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .encoders import Encoder
from .glossary import Glossary
from .index import ChunkRecord, LoadedIndex
from .script import Lang, normalise
from .tokens import Tokenizer


@dataclass(frozen=True, slots=True)
class FusionWeights:
    sentence: float = 0.7  # best-sentence BM25 relative to chunk BM25
    dense: float = 0.5  # cosine similarity
    language: float = 0.03  # passage in the asker's language
    expansion: float = 0.5  # glossary terms from the other language
    context: float = 0.5  # earlier turn of a follow-up
    glossary: float = 0.8  # glossary tables define terms; explanations answer better
    candidates: int = 100  # per signal, before fusion


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    lang: Lang = "en"
    context: str = ""  # the earlier question a follow-up refers to


@dataclass(frozen=True, slots=True)
class Hit:
    row: int
    chunk: ChunkRecord
    score: float
    lexical: float
    dense: float
    coverage: float = 0.0  # IDF-weighted share of the question's terms found in the chunk


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    expansions: list[str] = field(default_factory=list)

    @property
    def top(self) -> Hit | None:
        return self.hits[0] if self.hits else None


def _family(lang: str) -> str:
    return "zh" if lang.startswith("zh") else "en"


class Retriever:
    """Searches one loaded index. Holds no per-user state."""

    def __init__(
        self,
        index: LoadedIndex,
        encoder: Encoder,
        tokenizer: Tokenizer,
        glossary: Glossary | None = None,
        weights: FusionWeights = FusionWeights(),
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.glossary = glossary or Glossary()
        self.weights = weights
        self._n = len(index.chunks)
        self._k1 = index.manifest.bm25_k1
        self._chunk_family = np.array([_family(c.lang) == "zh" for c in index.chunks], dtype=bool)
        self._prior = np.array([weights.glossary if c.kind == "glossary" else 1.0 for c in index.chunks],
                               dtype=np.float32)

    # -- lexical -----------------------------------------------------------------
    def _ideal(self, tokens: list[str]) -> float:
        # BM25 of a term is at most idf * (k1 + 1); unseen terms weigh like the rarest.
        return sum(self.index.idf(t) for t in tokens) * (self._k1 + 1)

    def _bm25(self, model, tokens: list[str]) -> np.ndarray:  # noqa: ANN001
        ids = model.get_tokens_ids(tokens)
        if not ids:
            return np.zeros(model.scores["num_docs"], dtype=np.float32)
        return model.get_scores_from_ids(ids)

    def lexical_scores(self, groups: list[tuple[list[str], float]]) -> np.ndarray:
        """Chunk and best-sentence BM25, each divided by the ideal score of the query."""
        chunk = np.zeros(self._n, dtype=np.float32)
        sent = np.zeros(len(self.index.sentence_owner), dtype=np.float32)
        ideal = 0.0
        for tokens, weight in groups:
            if not tokens or weight <= 0:
                continue
            ideal += weight * self._ideal(tokens)
            chunk += weight * self._bm25(self.index.bm25, tokens)[: self._n]
            sent += weight * self._bm25(self.index.bm25_sentences, tokens)[: len(sent)]
        if ideal <= 0:
            return chunk
        best_sent = np.zeros(self._n, dtype=np.float32)
        if len(sent):
            np.maximum.at(best_sent, self.index.sentence_owner, sent)
        w = self.weights.sentence
        return (chunk + w * best_sent) / ((1 + w) * ideal)

    def coverage(self, tokens: list[str], row: int) -> float:
        """IDF-weighted share of ``tokens`` that occur in chunk ``row``."""
        total = found = 0.0
        for t in set(tokens):
            idf = self.index.idf(t)
            total += idf
            if t in self.index.df and self._bm25(self.index.bm25, [t])[row] > 0:
                found += idf
        return found / total if total else 0.0

    # -- dense -------------------------------------------------------------------
    def query_vector(self, query: Query) -> np.ndarray:
        texts = [normalise(query.text)]
        if query.context:
            texts.append(normalise(query.context))
        vecs = self.encoder.encode(texts)
        v = vecs[0] + (self.weights.context * vecs[1] if len(vecs) > 1 else 0)
        v = v / max(float(np.linalg.norm(v)), 1e-12)
        return np.asarray(v, dtype=np.float32)[None, :]

    def _dense_for(self, qv: np.ndarray, rows: np.ndarray) -> np.ndarray:
        vecs = np.vstack([self.index.dense.reconstruct(int(r)) for r in rows]) if len(rows) else np.zeros((0, qv.shape[1]))
        return (vecs @ qv[0]).astype(np.float32)

    # -- search ------------------------------------------------------------------
    def search(self, query: Query, k: int = 5) -> SearchResult:
        if self._n == 0:
            return SearchResult([])
        q_tokens = self.tokenizer.tokens(query.text)
        expansions = self.glossary.expand(query.text + "\n" + query.context)
        exp_tokens = [t for term in expansions for t in self.tokenizer.tokens(term)]
        ctx_tokens = self.tokenizer.tokens(query.context) if query.context else []
        lexical = self.lexical_scores(
            [(q_tokens, 1.0), (exp_tokens, self.weights.expansion), (ctx_tokens, self.weights.context)]
        )
        qv = self.query_vector(query)
        m = min(self._n, max(self.weights.candidates, k))
        d_scores, d_rows = self.index.dense.search(qv, m)
        dense_map = {int(r): float(s) for r, s in zip(d_rows[0], d_scores[0]) if r >= 0}
        lex_rows = np.argpartition(-lexical, m - 1)[:m] if m < self._n else np.arange(self._n)
        rows = np.array(sorted(set(dense_map) | {int(r) for r in lex_rows}), dtype=np.int64)
        missing = np.array([r for r in rows if r not in dense_map], dtype=np.int64)
        for r, s in zip(missing, self._dense_for(qv, missing)):
            dense_map[int(r)] = float(s)
        dense = np.array([dense_map[int(r)] for r in rows], dtype=np.float32)
        same_lang = self._chunk_family[rows] == (_family(query.lang) == "zh")
        fused = (lexical[rows] + self.weights.dense * dense + self.weights.language * same_lang) * self._prior[rows]
        order = np.argsort(-fused, kind="stable")[:k]
        hits = []
        for rank, i in enumerate(order):
            row = int(rows[i])
            cov = self.coverage(q_tokens + exp_tokens, row) if rank == 0 else 0.0
            hits.append(Hit(row, self.index.chunks[row], float(fused[i]), float(lexical[row]), float(dense[i]), cov))
        return SearchResult(hits, expansions)
