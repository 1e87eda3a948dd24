"""DRCD passage retrieval: every paragraph is one document, every question asks for its own.

DRCD (Delta Reading Comprehension Dataset, Traditional Chinese, CC BY-SA 3.0) has
1,000 paragraphs per split. Each paragraph becomes a :class:`bot.corpus.Document`
(``doc_id = "drcd/<paragraph id>"``, no title, so every row sees the same text) and
is indexed with ``ChunkSettings(size=3000, overlap=0)``, one chunk per paragraph;
chunk rankings are folded to paragraphs by their best chunk anyway. Each question
is asked as written (Traditional) and converted to Simplified with OpenCC
(``bot.script.to_simplified``); a question is found at k when its own paragraph is
among the first k.

Standalone: ``python -m bench.drcd --split dev [--questions-every 4]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from bot.chunking import ChunkSettings
from bot.config import Settings
from bot.corpus import Corpus, Document
from bot.script import to_simplified

from .procs import BenchError, percentile

if TYPE_CHECKING:  # the retrieval stack is imported where it is used
    from bot.encoders import Encoder
    from bot.engine import Engine

    from .common import CachedEncoder

log = logging.getLogger(__name__)

CHUNKING = ChunkSettings(size=3000, overlap=0)
KMAX = 20
SCRIPTS = ("Traditional", "Simplified")
SPLIT_FILES = {"dev": "DRCD_dev.json", "test": "DRCD_test.json"}


@dataclass(frozen=True, slots=True)
class Paragraph:
    pid: str
    text: str

    @property
    def doc_id(self) -> str:
        return f"drcd/{self.pid}"


@dataclass(frozen=True, slots=True)
class Question:
    qid: str
    text: str
    pid: str  # the paragraph that answers it

    @property
    def doc_id(self) -> str:
        return f"drcd/{self.pid}"


def split_path(drcd_dir: Path, split: str) -> Path:
    path = Path(drcd_dir) / SPLIT_FILES[split]
    if not path.is_file():
        raise BenchError(f"DRCD {split} split not found at {path}: pass --drcd DIR (the folder with {SPLIT_FILES[split]})")
    return path


def load_split(path: Path, paragraphs: int | None = None) -> tuple[list[Paragraph], list[Question]]:
    """Paragraphs and questions of one DRCD file (the first ``paragraphs`` when given)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        paras: list[Paragraph] = []
        questions: list[Question] = []
        for article in data["data"]:
            for p in article["paragraphs"]:
                if paragraphs is not None and len(paras) >= paragraphs:
                    return paras, questions
                paras.append(Paragraph(str(p["id"]), p["context"]))
                questions.extend(Question(str(q["id"]), q["question"], str(p["id"])) for q in p["qas"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{path}: not a DRCD file ({exc})") from None
    return paras, questions


def corpus_of(paragraphs: list[Paragraph], root: str = "drcd") -> Corpus:
    docs = tuple(
        Document(doc_id=p.doc_id, title="", lang="zh-Hant", body=p.text,
                 content_hash=hashlib.sha256(p.text.encode("utf-8")).hexdigest())
        for p in paragraphs
    )
    return Corpus(root, docs)


def open_engine(corpus: Corpus, index_dir: Path, encoder: Encoder) -> tuple[Engine, float]:
    """Build a fresh index of ``corpus`` in ``index_dir`` and open the project's engine on it."""
    from bot.engine import Engine
    from bot.index import build_index
    from bot.tokens import Tokenizer

    settings = Settings(corpus_dir=Path(corpus.root), index_dir=index_dir,
                        chunk_size=CHUNKING.size, chunk_overlap=CHUNKING.overlap)
    started = time.perf_counter()
    build_index(corpus, index_dir, encoder, Tokenizer(), CHUNKING, settings.faiss)
    seconds = time.perf_counter() - started
    return Engine.open(settings, build=False, encoder=encoder, corpus=corpus), seconds


@dataclass
class SplitResult:
    split: str
    paragraphs: int
    questions: int
    ranks: dict[str, dict[str, list[int | None]]] = field(default_factory=dict)  # script -> row -> ranks
    latency_ms: dict[str, list[float]] = field(default_factory=dict)  # row -> warm per-question ms
    build_seconds: float = 0.0  # with the bench's embedding cache: not a cold build
    multi_chunk_paragraphs: int = 0

    def metrics(self, script: str, row: str) -> dict[str, float]:
        from .common import mrr, recall

        ranks = self.ranks[script][row]
        return {"r@1": recall(ranks, 1), "r@5": recall(ranks, 5), "r@20": recall(ranks, 20), "mrr": mrr(ranks)}

    def curve(self, script: str, row: str) -> list[float]:
        from .common import recall

        ranks = self.ranks[script][row]
        return [recall(ranks, k) for k in range(1, KMAX + 1)]

    def to_json(self) -> dict:
        return {
            "split": self.split, "paragraphs": self.paragraphs, "questions": self.questions,
            "build_seconds": round(self.build_seconds, 3), "multi_chunk_paragraphs": self.multi_chunk_paragraphs,
            "metrics": {s: {r: self.metrics(s, r) for r in self.ranks[s]} for s in self.ranks},
            "curves": {s: {r: self.curve(s, r) for r in self.ranks[s]} for s in self.ranks},
            "latency_ms": {r: {"p50": percentile(v, 50), "p95": percentile(v, 95), "n": len(v)}
                           for r, v in self.latency_ms.items()},
        }


def run_split(
    path: Path,
    encoder: CachedEncoder,
    work_dir: Path,
    *,
    split: str = "dev",
    paragraphs: int | None = None,
    questions_every: int = 1,
    latency_sample: int = 300,
    rows: tuple[str, ...] | None = None,
    progress: bool = False,
) -> SplitResult:
    """Rank every question (and its Simplified form) with every row (or the given ``rows``)."""
    from .common import ROW_KEYS, build_rankers, query_texts, recall

    rows = rows or ROW_KEYS
    paras, questions = load_split(path, paragraphs)
    questions = questions[::questions_every]
    corpus = corpus_of(paras, root=str(path))
    engine, build_seconds = open_engine(corpus, Path(work_dir) / "index", encoder)
    chunks = engine.index.chunks
    doc_of_row = [c.doc_id for c in chunks]
    multi = len(chunks) - len(set(doc_of_row))
    if multi:
        log.warning("%d DRCD paragraphs span several chunks; each is ranked by its best chunk", multi)
    rankers = {k: v for k, v in build_rankers(engine, encoder).items() if k in rows}
    texts = {"Traditional": [q.text for q in questions], "Simplified": [to_simplified(q.text) for q in questions]}
    encoder.encode(query_texts(texts["Traditional"] + texts["Simplified"]))  # embed in batches, once
    result = SplitResult(split, len(paras), len(questions), build_seconds=build_seconds, multi_chunk_paragraphs=multi)
    for script in SCRIPTS:
        result.ranks[script] = {}
        for key, ranker in rankers.items():
            started = time.perf_counter()
            ranks: list[int | None] = []
            for q, text in zip(questions, texts[script]):
                docs = list(dict.fromkeys(doc_of_row[r] for r in ranker.rank(text, KMAX)))
                ranks.append(docs.index(q.doc_id) + 1 if q.doc_id in docs else None)
            result.ranks[script][key] = ranks
            if progress:
                print(f"  drcd {split} {script:<11} {key:<9} r@1 {recall(ranks, 1):.3f} "
                      f"({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)
    if latency_sample:
        result.latency_ms = measure_latency(rankers, encoder, texts["Traditional"], latency_sample)
    return result


def measure_latency(rankers: dict, encoder: CachedEncoder, questions: list[str], sample: int) -> dict[str, list[float]]:
    """Warm per-question latency of each row, with the real encoder (no cache)."""
    step = max(1, len(questions) // max(sample, 1))
    chosen = questions[::step][:sample]
    warm = questions[-min(20, sample):]
    out: dict[str, list[float]] = {}
    encoder.use_cache = False
    try:
        for key, ranker in rankers.items():
            for q in warm:
                ranker.rank(q, KMAX)
            times = []
            for q in chosen:
                t = time.perf_counter()
                ranker.rank(q, KMAX)
                times.append((time.perf_counter() - t) * 1000)
            out[key] = times
    finally:
        encoder.use_cache = True
    return out


def main(argv: list[str] | None = None) -> None:
    from bot.encoders import EmbeddingCache, load_encoder

    from .common import LABELS, CachedEncoder, fmt
    from .procs import DEFAULT_CACHE, DEFAULT_DRCD

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drcd", type=Path, default=DEFAULT_DRCD)
    ap.add_argument("--split", choices=sorted(SPLIT_FILES), default="dev")
    ap.add_argument("--paragraphs", type=int)
    ap.add_argument("--questions-every", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args(argv)
    try:
        path = split_path(args.drcd, args.split)
    except BenchError as exc:
        raise SystemExit(f"error: {exc}") from None
    with EmbeddingCache(args.cache / "embeddings.sqlite") as cache, tempfile.TemporaryDirectory() as tmp:
        encoder = CachedEncoder(load_encoder("use-multilingual"), cache)
        res = run_split(path, encoder, Path(tmp), split=args.split, paragraphs=args.paragraphs,
                        questions_every=args.questions_every, progress=True)
    for script in SCRIPTS:
        print(f"\n{script} ({res.questions} questions, {res.paragraphs} paragraphs)")
        for key in res.ranks[script]:
            m = res.metrics(script, key)
            print(f"  {LABELS[key]:<55} " + "  ".join(f"{n} {fmt(v)}" for n, v in m.items()))


if __name__ == "__main__":
    main()
