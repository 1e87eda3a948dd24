"""Domain questions (``dev.jsonl``) over the bundled corpus, for every row.

The hybrid row is the whole engine (``bot.evaluation.evaluate``: ``Engine.answer``
with conversations, the coverage gate, refusals). The other rows rank the same
chunks of the same index and never refuse, so their refusal columns are "n/a";
follow-up turns are asked on their own, as those pipelines keep no conversation.
Hits are counted the project's way (``bot.evaluation``): a key occurs in one of the
first k passages, compared after ``t2s``, lower-casing and dropping whitespace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.chunking import ChunkSettings
from bot.config import Settings
from bot.corpus import CorpusError, load_corpus
from bot.engine import Engine
from bot.evaluation import EvalFileError, Item, ItemResult, Report, evaluate, read_items, squash
from bot.index import build_index
from bot.tokens import Tokenizer

from .common import ROW_KEYS, CachedEncoder, build_rankers, query_texts
from .procs import BenchError

LANG_ORDER = ("zh-Hant", "zh-Hans", "en", "all")


@dataclass
class DomainResult:
    questions: int
    documents: int
    chunks: int
    metrics: dict[str, dict[str, dict]] = field(default_factory=dict)  # row -> lang -> metrics
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"questions": self.questions, "documents": self.documents, "chunks": self.chunks,
                "seconds": round(self.seconds, 3), "metrics": self.metrics}


def open_engine(corpus_dir: Path, index_dir: Path, encoder: CachedEncoder) -> Engine:
    """A fresh index of the corpus with the project's default settings, and its engine."""
    settings = Settings(corpus_dir=corpus_dir, index_dir=index_dir)
    try:
        corpus = load_corpus(corpus_dir)
    except CorpusError as exc:
        raise BenchError(str(exc)) from None
    build_index(corpus, index_dir, encoder, Tokenizer(), ChunkSettings(settings.chunk_size, settings.chunk_overlap),
                settings.faiss)
    return Engine.open(settings, build=False, encoder=encoder, corpus=corpus)


def _rank_of(item: Item, texts: list[str]) -> int | None:
    keys = [squash(k) for k in item.keys]
    for rank, text in enumerate(texts, start=1):
        squashed = squash(text)
        if any(k in squashed for k in keys):
            return rank
    return None


def run_domain(eval_file: Path, corpus_dir: Path, encoder: CachedEncoder, work_dir: Path,
               rows: tuple[str, ...] = ROW_KEYS, k: int = 5) -> DomainResult:
    try:
        items = read_items(eval_file)
    except EvalFileError as exc:
        raise BenchError(f"{exc}: pass --eval FILE") from None
    started = time.perf_counter()
    engine = open_engine(corpus_dir, Path(work_dir) / "index", encoder)
    chunks = engine.index.chunks
    result = DomainResult(len(items), len(engine.documents), len(chunks))
    encoder.encode(query_texts([i.question for i in items]))
    rankers = build_rankers(engine, encoder)
    for key in rows:
        if key == "hybrid":
            report = evaluate(engine, items, k=k)
        else:
            ranker = rankers[key]
            report = Report()
            for item in items:
                texts = [chunks[r].text for r in ranker.rank(item.question, k)] if item.scope != "out" else []
                report.results.append(ItemResult(item, False, _rank_of(item, texts), 0.0, item.lang))
        metrics = report.metrics()
        if key != "hybrid":
            for m in metrics.values():  # these pipelines cannot refuse
                m["refused_out"] = m["refused_in"] = None
        result.metrics[key] = {lang: metrics[lang] for lang in LANG_ORDER if lang in metrics}
    result.seconds = time.perf_counter() - started
    return result
