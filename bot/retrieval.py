"""Hybrid retrieval: BM25 over chunks and sentences, dense vectors, evidence-weighted fusion.

Scores are fused on an absolute scale instead of by rank:

* lexical: the BM25 score of the chunk plus the best BM25 score of one of its
  sentences, each divided by the score a passage matching every query term would
  get. Query terms the corpus has never seen still count in that ideal, so
  lexical evidence is small exactly when the words of the question are not in the
  corpus, and the dense score decides. A glossary concept in the question
  ("custody") may be matched by any of its wordings (託管, custodian), counted once;
  translations count only for passages in the other language, and words that
  language never uses take at most a set share out of those passages' ideal;
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
from .glossary import Glossary, singular
from .index import ChunkRecord, LoadedIndex
from .script import Lang, normalise
from .tokens import Tokenizer


@dataclass(frozen=True, slots=True)
class FusionWeights:
    sentence: float = 0.7  # best-sentence BM25 relative to chunk BM25
    dense: float = 0.45  # cosine similarity, when passages in both languages compete
    dense_monolingual: float = 0.15  # ... when every candidate is in the question's language
    # Bonus for a passage in the asker's language. Chinese readers get the Chinese
    # version of a topic over its English twin (「什么是ERISA?」 matched English text on
    # the acronym alone); for English questions it cost hit@1 on dev (0.64 -> 0.55),
    # where several answers exist only in the Chinese article, so it is 0 there.
    language_zh: float = 0.15
    language_en: float = 0.0
    expansion: float = 1.0  # a concept's other glossary wordings, relative to the asker's own words
    context: float = 0.5  # earlier turn of a follow-up
    glossary: float = 0.5  # glossary tables define terms; explanations answer better
    per_section: int = 1  # passages shown per document section (0: no limit)
    twin_ratio: float = 0.7  # show a topic in the asker's language if it scores this share of the other
    mix_slot: int = 3  # the best passage in the other language is shown by this rank (0: off)
    align_languages: bool = True  # compare dense scores within each language's own distribution
    candidates: int = 100  # per signal, before fusion
    cross_ideal: float = 0.3  # share of the ideal that words the other language never uses may take out of it
    # for passages of a source with no version in the asker's language


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    lang: Lang = "en"
    context: str = ""  # the earlier question a follow-up refers to
    hint: str = ""  # extra search terms that are not the asker's words (e.g. risk terms for advice requests)


# A glossary concept as tokens: (the asker's words it stands for, its wordings in the
# asker's language, its wordings in the other language).
ConceptTokens = tuple[list[str], list[list[str]], list[list[str]]]


@dataclass(frozen=True, slots=True)
class Segment:
    """Tokens of one text searched for (the question, an earlier turn), with its
    glossary concepts, grouped where they share a word."""

    tokens: list[str]
    weight: float
    groups: list[list[ConceptTokens]] = field(default_factory=list)


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
    query_vector: np.ndarray | None = None

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
        self._term_tokens: dict[str, list[str]] = {}  # glossary term -> tokens (bounded by the glossary)
        self._bilingual = bool(self._chunk_family.any() and not self._chunk_family.all())
        # Languages each topic is written in, and per asker language (True: Chinese)
        # the passages whose topic has no version in that language (the article, for
        # an English asker): nothing stands in for them there.
        families: dict[str, set[bool]] = {}
        for fam, c in zip(self._chunk_family, index.chunks):
            if c.topic:
                families.setdefault(c.topic, set()).add(bool(fam))
        self._lone = {qz: np.array([fam != qz and (not c.topic or qz not in families[c.topic])
                                    for fam, c in zip(self._chunk_family, index.chunks)], dtype=bool)
                      for qz in (False, True)}
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

    def _per_model(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of ``tokens`` for every chunk and for every sentence."""
        return (self._bm25(self.index.bm25, tokens)[: self._n],
                self._bm25(self.index.bm25_sentences, tokens)[: len(self.index.sentence_owner)])

    def lexical_scores(self, segments: list[Segment], query_zh: bool = False) -> np.ndarray:
        """Chunk and best-sentence BM25, divided by the ideal score of the question.

        Each segment (the question, an earlier turn) counts with its weight. A glossary
        concept found in a segment may be matched by any of its wordings instead of the
        words the asker used: a passage needs only one way of saying a thing, so the
        concept scores its best wording, measured against that wording's own ideal,
        and counts once in the ideal. Wordings in the asker's language count for every
        passage; translations only for passages in the other language, so a passage
        in the asker's language is judged on the asker's own words.
        """
        n_sent = len(self.index.sentence_owner)
        base = [np.zeros(self._n, dtype=np.float32), np.zeros(n_sent, dtype=np.float32)]
        gain_own = [np.zeros_like(base[0]), np.zeros_like(base[1])]
        gain_cross = [np.zeros_like(base[0]), np.zeros_like(base[1])]
        ideal = 0.0
        unmatchable = 0.0  # ideal of words no passage in the other language contains
        for seg in segments:
            if not seg.tokens or seg.weight <= 0:
                continue
            ideal += seg.weight * self._ideal(seg.tokens)
            for level, v in enumerate(self._per_model(seg.tokens)):
                base[level] += seg.weight * v
            if self.weights.cross_ideal > 0 and self._bilingual:
                covered = {t for group in seg.groups for c in group for t in c[0]}
                for t in set(seg.tokens) - covered:
                    if not (self._bm25(self.index.bm25, [t])[: self._n][self._chunk_family != query_zh] > 0).any():
                        unmatchable += seg.weight * self._ideal([t])
            for group in seg.groups:
                own = [np.zeros_like(base[0]), np.zeros_like(base[1])]
                cross = [np.zeros_like(base[0]), np.zeros_like(base[1])]
                for original, own_words, other_words in group:
                    target = self._ideal(original)
                    orig = self._per_model(original)
                    for words, kinds in ((own_words, (own, cross)), (other_words, (cross,))):
                        for w in words:
                            scale = self.weights.expansion * target / max(self._ideal(w), 1e-9)
                            for level, v in enumerate(self._per_model(w)):
                                g = np.maximum(scale * v - orig[level], 0)
                                for k in kinds:
                                    np.maximum(k[level], g, out=k[level])
                for level in (0, 1):
                    gain_own[level] += seg.weight * own[level]
                    gain_cross[level] += seg.weight * cross[level]
        if ideal <= 0:
            return base[0]
        own_family = self._chunk_family == query_zh
        # A word that no passage in the other language contains ("apply" over Chinese
        # text) is not evidence against one passage there rather than another. This
        # counts only for sources the asker cannot read in their own language (the
        # Chinese article, for an English question): where a translation exists, it
        # answers on the asker's own words, and relieving its twin only let a
        # glossary match ("asset size" ~ "position sizing") outrank the answer.
        cross_ideal = ideal - min(unmatchable, self.weights.cross_ideal * ideal)
        ideal_rows = np.where(self._lone[query_zh], cross_ideal, ideal).astype(np.float32)
        chunk = base[0] + np.where(own_family, gain_own[0], gain_cross[0])
        sent_own, sent_cross = base[1] + gain_own[1], base[1] + gain_cross[1]
        owner = self.index.sentence_owner
        sent = np.where(own_family[owner], sent_own, sent_cross) if n_sent else base[1]
        best_sent = np.zeros(self._n, dtype=np.float32)
        if n_sent:
            np.maximum.at(best_sent, owner, sent)
        w = self.weights.sentence
        return (chunk + w * best_sent) / ((1 + w) * ideal_rows)

    def _tokens_of(self, term: str) -> list[str]:
        tokens = self._term_tokens.get(term)
        if tokens is None:
            tokens = self._term_tokens[term] = self.tokenizer.tokens(term)
        return tokens

    def segment(self, text: str, weight: float, query_zh: bool) -> Segment:
        """``text`` as tokens, with its glossary concepts grouped where they overlap."""
        tokens = self.tokenizer.tokens(text)
        concepts: list[ConceptTokens] = []
        for c in self.glossary.concepts(text):
            # The asker's words the term stands for; the glossary matched "menus" to
            # "menu", which the stemmer keeps apart (it leaves "-us" words alone).
            found = {singular(t) for term in c.found for t in self._tokens_of(term)}
            original = [t for t in dict.fromkeys(tokens) if singular(t) in found]
            if not original:
                continue
            own = [self._tokens_of(t) for t in c.wordings(query_zh)]
            other = [self._tokens_of(t) for t in c.wordings(not query_zh)]
            concepts.append((original, [w for w in own if w], [w for w in other if w]))
        # Concepts sharing a word ("401(k)" and "401(k) plan") are one group: the
        # group gains what its best member gains, not their sum.
        groups: list[list[ConceptTokens]] = []
        for c in concepts:
            joined = [g for g in groups if any(set(c[0]) & set(o[0]) for o in g)]
            merged = [c, *(m for g in joined for m in g)]
            groups = [g for g in groups if g not in joined] + [merged]
        return Segment(tokens, weight, groups)

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
        if query.context or query.hint:
            texts.append(normalise("\n".join(t for t in (query.context, query.hint) if t)))
        vecs = self.encoder.encode(texts)
        v = vecs[0] + (self.weights.context * vecs[1] if len(vecs) > 1 else 0)
        v = v / max(float(np.linalg.norm(v)), 1e-12)
        return np.asarray(v, dtype=np.float32)[None, :]

    def _dense_for(self, qv: np.ndarray, rows: np.ndarray) -> np.ndarray:
        vecs = np.vstack([self.index.dense.reconstruct(int(r)) for r in rows]) if len(rows) else np.zeros((0, qv.shape[1]))
        return (vecs @ qv[0]).astype(np.float32)

    @staticmethod
    def align(dense: np.ndarray, is_zh: np.ndarray) -> np.ndarray:
        """Shift each language's cosine scores to a common mean.

        A multilingual encoder scores cross-language pairs lower than same-language
        pairs, so without this an English question would never rank a Chinese passage
        that answers it above an English one that does not.
        """
        if is_zh.all() or not is_zh.any():
            return dense
        out = dense.copy()
        overall = float(dense.mean())
        for mask in (is_zh, ~is_zh):
            out[mask] += overall - float(dense[mask].mean())
        return out

    def _diverse(self, rows: np.ndarray, order: np.ndarray, k: int, fused: np.ndarray, query_zh: bool) -> list[int]:
        """The first ``k`` of ``order`` without near-duplicates, mixing languages.

        * Overlapping chunks of one section say nearly the same: one is shown.
        * Explainers exist in English and Chinese with the same ``topic``: a topic is
          shown in one language only, the asker's where its passage scores at least
          ``twin_ratio`` of the other's (「什么是ERISA?」 matched the English text on
          the acronym alone), and a different source takes the other's place.
        * The best passage in the other language is shown by rank ``mix_slot``, so a
          source written in only one language is never hidden behind translations.
        """
        chosen: list[int] = []
        topics: dict[str, bool] = {}  # topic -> language family first shown (True: Chinese)
        sections: dict[tuple[str, str], int] = {}
        neighbours: set[tuple[str, int]] = set()

        def admissible(i: int) -> bool:
            chunk = self.index.chunks[int(rows[i])]
            zh = bool(self._chunk_family[int(rows[i])])
            if chunk.topic and topics.get(chunk.topic, zh) != zh:
                return False
            if chunk.section:
                limit = self.weights.per_section
                return not limit or sections.get((chunk.doc_id, chunk.section), 0) < limit
            return (chunk.doc_id, chunk.ordinal) not in neighbours

        def take(i: int, at: int | None = None) -> None:
            chunk = self.index.chunks[int(rows[i])]
            if chunk.topic:
                topics.setdefault(chunk.topic, bool(self._chunk_family[int(rows[i])]))
            sections[(chunk.doc_id, chunk.section)] = sections.get((chunk.doc_id, chunk.section), 0) + 1
            neighbours.update({(chunk.doc_id, chunk.ordinal - 1), (chunk.doc_id, chunk.ordinal + 1)})
            chosen.insert(len(chosen) if at is None else at, int(i))

        # The best candidate of each topic in the asker's language.
        own_best: dict[str, int] = {}
        for i in order:
            chunk = self.index.chunks[int(rows[i])]
            if chunk.topic and bool(self._chunk_family[int(rows[i])]) == query_zh:
                own_best.setdefault(chunk.topic, int(i))

        def prefer_own(i: int) -> int:
            chunk = self.index.chunks[int(rows[i])]
            twin = own_best.get(chunk.topic) if chunk.topic else None
            if (twin is not None and twin != i and bool(self._chunk_family[int(rows[i])]) != query_zh
                    and chunk.topic not in topics and twin not in chosen
                    and fused[twin] >= self.weights.twin_ratio * fused[i]):
                return twin
            return i

        slot = self.weights.mix_slot
        for i in order:
            i = prefer_own(int(i))
            if len(chosen) == slot - 1 and slot > 1:
                fams = {bool(self._chunk_family[int(rows[j])]) for j in chosen}
                if len(fams) == 1:
                    # Only a source with no version in the asker's language: a
                    # translation of an explainer they can read would take the slot
                    # and lock that topic to the other language.
                    lone = self._lone[query_zh]
                    other = next((j for j in order if bool(self._chunk_family[int(rows[j])]) not in fams
                                  and int(j) not in chosen and admissible(int(j)) and lone[int(rows[j])]), None)
                    if other is not None:
                        take(int(other))
            if len(chosen) >= k:
                break
            if int(i) not in chosen and admissible(int(i)):
                take(int(i))
        return chosen[:k]

    # -- search ------------------------------------------------------------------
    def search(self, query: Query, k: int = 5) -> SearchResult:
        if self._n == 0:
            return SearchResult([])
        expansions = self.glossary.expand(query.text + "\n" + query.context)
        query_zh = _family(query.lang) == "zh"
        translations = [t for term in expansions if term.isascii() == query_zh for t in self.tokenizer.tokens(term)]
        ctx_tokens = self.tokenizer.tokens(query.context) if query.context else []
        earlier = "\n".join(t for t in (query.context, query.hint) if t)
        segments = [self.segment(query.text, 1.0, query_zh)]
        q_tokens = segments[0].tokens
        if earlier:
            segments.append(self.segment(earlier, self.weights.context, query_zh))
        lexical = self.lexical_scores(segments, query_zh)
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
        is_zh = self._chunk_family[rows]
        same_lang = is_zh == (_family(query.lang) == "zh")
        aligned = self.align(dense, is_zh) if self.weights.align_languages else dense
        # Dense vectors bridge languages; within one language, BM25 is the stronger
        # evidence (DRCD dev recall@1: 0.958 with weight 0.15, 0.956 with 0.1, 0.957
        # with 0.2; 0.940 with 0.5).
        w_dense = self.weights.dense_monolingual if same_lang.all() else self.weights.dense
        fused = (lexical[rows] + w_dense * aligned + (self.weights.language_zh if query_zh else self.weights.language_en) * same_lang) * self._prior[rows]
        order = self._diverse(rows, np.argsort(-fused, kind="stable"), k, fused, query_zh)
        hits = []
        for rank, i in enumerate(order):
            row = int(rows[i])
            cov = 0.0
            if rank == 0:
                cov = self.coverage(q_tokens + ctx_tokens, row)
                if translations and bool(self._chunk_family[row]) != query_zh:
                    # A passage in the other language covers the question through the
                    # glossary's translations of its terms.
                    cov = max(cov, self.coverage(translations, row))
            hits.append(Hit(row, self.index.chunks[row], float(fused[i]), float(lexical[row]), float(dense[i]), cov))
        return SearchResult(hits, expansions, qv[0])
