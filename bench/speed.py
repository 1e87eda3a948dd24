"""Speed and memory of the project against the common recipe, measured in the same run.

Every figure comes from a separate process, so peak memory is that process's own
``ru_maxrss`` (``os.wait4``) and nothing is shared with the benchmark process:

* index build from an empty embedding cache (fresh temporary folder), then again
  after one document changed, for the bundled corpus and for DRCD dev; the recipe
  has no embedding cache, so it embeds everything both times;
* cold start: ``edubot ask --no-build "..."`` with the index built, against
  ``python -m bench.recipe ask``;
* warm per-question latency (p50/p95) of ``Engine.answer`` and ``Engine.search``
  after a few warm-up questions, against the recipe's encode-and-search;
* questions per second with both cores busy: two worker processes, each with its
  own engine, answering the question pool at the same time.

``python -m bench.speed profile`` prints where DRCD index-build time goes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .procs import BenchError, Measured, child_env, cpu_busy, percentile, python_module, run_measured, setup_logging

WARM_UP = ("What is a mutual fund?", "什麼是指數基金?", "什么是债券?", "How are retirement savings taxed?",
           "退休金帳戶怎麼運作?")
COLD_QUESTION = "401(k)計劃的資產規模有多大?"
CHANGED_NOTE = "\n\nBenchmark edit: one changed sentence.\n"


# -- what runs in the child processes --------------------------------------------------


def _corpus(spec: dict[str, Any]):  # noqa: ANN202 - bot.corpus.Corpus
    from dataclasses import replace

    from bot.corpus import load_corpus

    if spec["source"] == "drcd":
        from .drcd import corpus_of, load_split

        paras, _ = load_split(Path(spec["path"]), spec.get("paragraphs"))
        corpus = corpus_of(paras)
        if spec.get("change_one"):
            from .drcd import Paragraph

            first = corpus.documents[0]
            changed = corpus_of([Paragraph(first.doc_id.split("/", 1)[1], first.body + "(基準測試修改)")])
            corpus = replace(corpus, documents=(changed.documents[0], *corpus.documents[1:]))
        return corpus
    return load_corpus(Path(spec["path"]))


def _chunking(spec: dict[str, Any]):  # noqa: ANN202 - bot.chunking.ChunkSettings
    from bot.chunking import ChunkSettings
    from bot.config import Settings

    if spec["source"] == "drcd":
        from .drcd import CHUNKING

        return CHUNKING
    s = Settings()
    return ChunkSettings(s.chunk_size, s.chunk_overlap)


def _child_build(spec: dict[str, Any]) -> dict[str, Any]:
    from bot.encoders import load_encoder

    t = time.perf_counter()
    corpus = _corpus(spec)
    encoder = load_encoder("use-multilingual")
    chunking = _chunking(spec)
    if spec["kind"] == "recipe":
        from bot.index import chunk_corpus

        from .recipe import Recipe

        setup = time.perf_counter() - t
        t = time.perf_counter()
        texts = [r.index_text for r in chunk_corpus(corpus, chunking)]
        Recipe.build(texts, encoder, Path(spec["index"]))
        return {"setup_s": setup, "build_s": time.perf_counter() - t, "embedded": len(texts), "chunks": len(texts)}
    from bot.index import build_index
    from bot.tokens import Tokenizer

    tokenizer = Tokenizer()
    setup = time.perf_counter() - t
    t = time.perf_counter()
    stages: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:  # when each stage of the build ends
        if done >= total:
            stages[stage] = time.perf_counter() - t

    report = build_index(corpus, Path(spec["index"]), encoder, tokenizer, chunking, progress=progress)
    return {"setup_s": setup, "build_s": report.seconds, "embedded": report.embedded,
            "chunks": report.manifest.n_chunks, "stages": stages}


def _open(spec: dict[str, Any]):  # noqa: ANN202
    """(answer function, search function or None) for the project or the recipe."""
    if spec["kind"] == "recipe":
        from .recipe import Recipe

        recipe = Recipe.load(Path(spec["index"]))
        return recipe.ask, None
    from bot.config import Settings
    from bot.engine import Engine

    engine = Engine.open(Settings(corpus_dir=Path(spec["corpus"]), index_dir=Path(spec["index"])), build=False)
    return engine.answer, engine.search


def _timed(fn, questions: list[str]) -> list[float]:  # noqa: ANN001
    out = []
    for q in questions:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _warm(spec: dict[str, Any]):  # noqa: ANN202
    """The engine's answer and search functions, warmed up, and the question pool."""
    answer, search = _open(spec)
    pool = json.loads(Path(spec["pool"]).read_text(encoding="utf-8"))
    for q in WARM_UP:
        answer(q)
    return answer, search, pool


def _child_latency(spec: dict[str, Any]) -> dict[str, Any]:
    answer, search, pool = _warm(spec)
    out = {"answer_ms": _timed(answer, pool)}
    if search is not None:
        out["search_ms"] = _timed(search, pool)
    return out


def _child_worker(spec: dict[str, Any]) -> dict[str, Any]:
    answer, _, pool = _warm(spec)
    Path(spec["ready"]).touch()
    go = Path(spec["go"])
    while not go.exists():
        time.sleep(0.001)
    start = time.time()
    n = 0
    for _ in range(spec["rounds"]):
        for q in pool:
            answer(q)
            n += 1
    return {"start": start, "end": time.time(), "questions": n}


CHILD_TASKS = {"build": _child_build, "latency": _child_latency, "worker": _child_worker}


def _child_main(arg: str) -> int:
    setup_logging()
    spec = json.loads(arg)
    print(json.dumps(CHILD_TASKS[spec["task"]](spec)))
    return 0


# -- the parent ------------------------------------------------------------------------


def _child(spec: dict[str, Any]) -> tuple[dict[str, Any], Measured]:
    m = run_measured(python_module("bench.speed", "child", json.dumps(spec)), env=child_env())
    if m.returncode != 0:
        tail = " | ".join(m.stderr.strip().splitlines()[-3:])
        raise BenchError(f"benchmark process {spec['task']}/{spec.get('kind')} failed: {tail}")
    return json.loads(m.stdout.strip().splitlines()[-1]), m


def _build_pair(spec: dict[str, Any], work: Path, repeats: int, progress) -> tuple[dict[str, Any], dict[str, Path]]:  # noqa: ANN001
    """Project and recipe builds of one corpus, from empty and after one document changed; best of ``repeats``.

    Returns the figures and the index folders of the last repetition.
    """
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {k: {"empty": [], "changed": []} for k in ("project", "recipe")}
    last: dict[str, Path] = {}
    for rep in range(repeats):
        for stage in ("empty", "changed"):
            if stage == "changed" and spec["source"] == "bundled":
                _change_one_file(Path(spec["path"]))
            for kind in ("project", "recipe"):  # alternating, so a burst of other work hits both alike
                last[kind] = work / f"{kind}-index-{rep}"
                data, m = _child({**spec, "task": "build", "kind": kind, "index": str(last[kind]),
                                  "change_one": stage == "changed"})
                runs[kind][stage].append({**data, "wall_s": m.seconds, "cpu_s": m.cpu_seconds,
                                          "max_rss_mb": m.max_rss_mb})
                progress(f"build {spec['name']} {kind} {stage}: {data['build_s']:.2f} s, "
                         f"{data['embedded']} embedded, peak {m.max_rss_mb:.0f} MB")
    out: dict[str, Any] = {}
    for kind, stages in runs.items():
        out[kind] = {}
        for stage, items in stages.items():
            best = min(items, key=lambda d: d["build_s"])
            out[kind][stage] = {**best, "runs": [round(d["build_s"], 3) for d in items],
                                "max_rss_mb": max(d["max_rss_mb"] for d in items)}
    return out, last


def _change_one_file(corpus_dir: Path) -> None:
    from bot.corpus import corpus_files

    path = corpus_files(corpus_dir)[0]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(CHANGED_NOTE)


def _edubot() -> list[str]:
    script = Path(sys.executable).with_name("edubot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def _cold(cmds: dict[str, list[str]], cwd: Path, repeats: int) -> dict[str, Any]:
    """Best of ``repeats`` process runs per command, alternating; a first round warms the file cache."""
    runs: dict[str, list[Measured]] = {name: [] for name in cmds}
    for _ in range(repeats + 1):
        for name, cmd in cmds.items():
            m = run_measured(cmd, cwd=cwd, env=child_env())
            if m.returncode != 0:
                raise BenchError(f"cold start failed ({' '.join(cmd[:3])} ...): {m.stderr.strip()[-300:]}")
            runs[name].append(m)
    return {name: {"seconds": min(m.seconds for m in ms[1:]), "runs": [round(m.seconds, 3) for m in ms[1:]],
                   "cpu_s": min(m.cpu_seconds for m in ms[1:]), "max_rss_mb": max(m.max_rss_mb for m in ms[1:])}
            for name, ms in runs.items()}


def _qps(spec: dict[str, Any], work: Path, workers: int, rounds: int) -> dict[str, Any]:
    run = tempfile.mkdtemp(prefix="qps-", dir=work)
    go = Path(run) / "go"
    procs = []
    for i in range(workers):
        ready = Path(run) / f"ready-{i}"
        child = {**spec, "task": "worker", "ready": str(ready), "go": str(go), "rounds": rounds}
        procs.append((ready, subprocess.Popen(python_module("bench.speed", "child", json.dumps(child)),
                                              env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
    try:
        deadline = time.time() + 300
        while not all(r.exists() for r, _ in procs):
            if any(p.poll() is not None for _, p in procs) or time.time() > deadline:
                raise BenchError("a throughput worker stopped before it was ready")
            time.sleep(0.01)
        go.touch()
        results = []
        for _, p in procs:
            out, err = p.communicate(timeout=900)
            if p.returncode != 0:
                raise BenchError(f"throughput worker failed: {err.decode(errors='replace').strip()[-300:]}")
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
    finally:
        for _, p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
    total = sum(r["questions"] for r in results)
    return {"workers": workers, "questions": total, "seconds": seconds, "qps": total / seconds}


def question_pool(eval_file: Path) -> list[str]:
    """The domain questions, each also in the other Chinese script."""
    from bot.evaluation import read_items
    from bot.script import convert, to_simplified

    pool = []
    for item in read_items(eval_file):
        pool.append(item.question)
        if item.lang == "zh-Hant":
            pool.append(to_simplified(item.question))
        elif item.lang == "zh-Hans":
            pool.append(convert(item.question, "s2t"))
    return list(dict.fromkeys(pool))


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)}


def run_speed(corpus_dir: Path, eval_file: Path, drcd_dev: Path | None, *, quick: bool = False,
              progress=print, result: dict[str, Any] | None = None) -> dict[str, Any]:  # noqa: ANN001
    """All speed figures; ``result`` (filled in as they come) keeps the finished ones if one fails."""
    result = {} if result is None else result
    result.update(load_before=os.getloadavg(), cpus=os.cpu_count())
    with tempfile.TemporaryDirectory(prefix="edubot-speed-") as tmp_name:
        tmp = Path(tmp_name)
        pool_file = tmp / "pool.json"
        pool = question_pool(eval_file)
        result["pool"] = len(pool)
        pool_file.write_text(json.dumps(pool, ensure_ascii=False), encoding="utf-8")
        corpus = tmp / "bundled" / "corpus"
        shutil.copytree(corpus_dir, corpus)
        repeats = 1 if quick else 3
        result["repeats"] = repeats
        result["builds"] = {}
        result["builds"]["bundled"], bundled = _build_pair(
            {"name": "bundled", "source": "bundled", "path": str(corpus)}, tmp / "bundled", repeats, progress)
        if drcd_dev is not None:
            result["builds"]["drcd-dev"], _ = _build_pair(
                {"name": "drcd-dev", "source": "drcd", "path": str(drcd_dev)}, tmp / "drcd", repeats, progress)
        project = {"kind": "project", "corpus": str(corpus), "index": str(bundled["project"]), "pool": str(pool_file)}
        recipe = {"kind": "recipe", "index": str(bundled["recipe"]), "pool": str(pool_file)}
        result["cold"] = _cold({
            "project": [*_edubot(), "--corpus", project["corpus"], "--index", project["index"], "ask", "--no-build",
                        COLD_QUESTION],
            "recipe": python_module("bench.recipe", "ask", recipe["index"], COLD_QUESTION),
        }, tmp, 2 if quick else 5)
        progress(f"cold start: project {result['cold']['project']['seconds']:.2f} s, "
                 f"recipe {result['cold']['recipe']['seconds']:.2f} s")
        latency: dict[str, list[dict[str, float]]] = {"project-answer": [], "project-search": [], "recipe": []}
        rss = {"project": 0.0, "recipe": 0.0}
        for _ in range(repeats):
            lat_p, m_p = _child({**project, "task": "latency"})
            lat_r, m_r = _child({**recipe, "task": "latency"})
            latency["project-answer"].append(_summary(lat_p["answer_ms"]))
            latency["project-search"].append(_summary(lat_p["search_ms"]))
            latency["recipe"].append(_summary(lat_r["answer_ms"]))
            rss = {"project": max(rss["project"], m_p.max_rss_mb), "recipe": max(rss["recipe"], m_r.max_rss_mb)}
        result["latency"] = {k: {"p50": min(r["p50"] for r in v), "p95": min(r["p95"] for r in v), "n": v[0]["n"]}
                             for k, v in latency.items()}
        result["serving_rss_mb"] = rss
        progress(f"warm latency p95: answer {result['latency']['project-answer']['p95']:.1f} ms, "
                 f"search {result['latency']['project-search']['p95']:.1f} ms, "
                 f"recipe {result['latency']['recipe']['p95']:.1f} ms")
        rounds = 2 if quick else 6
        qps: dict[str, list[dict[str, Any]]] = {"project": [], "recipe": []}
        for _ in range(repeats):
            qps["project"].append(_qps(project, tmp, 2, rounds))
            qps["recipe"].append(_qps(recipe, tmp, 2, rounds))
        result["qps"] = {k: max(v, key=lambda r: r["qps"]) for k, v in qps.items()}
        progress(f"2 workers: project {result['qps']['project']['qps']:.1f} q/s, "
                 f"recipe {result['qps']['recipe']['qps']:.1f} q/s")
    result["load_after"] = os.getloadavg()
    result["busy_after"] = cpu_busy(2.0)
    return result


# -- profile ---------------------------------------------------------------------------


def profile(drcd_dev: Path, paragraphs: int | None = None) -> None:
    """Stage by stage, sequentially, what a DRCD build from an empty cache spends its time on."""
    import cProfile
    import pstats

    from bot import bm25 as bm25_index
    from bot.encoders import load_encoder
    from bot.index import BM25_B, BM25_K1, build_index, chunk_corpus
    from bot.script import normalise
    from bot.tokens import Tokenizer

    from .drcd import CHUNKING

    spec = {"source": "drcd", "path": str(drcd_dev), "paragraphs": paragraphs}
    corpus = _corpus(spec)
    encoder = load_encoder("use-multilingual")
    tokenizer = Tokenizer()
    stages: list[tuple[str, float]] = []

    def stage(name: str, fn):  # noqa: ANN001, ANN202
        t = time.perf_counter()
        value = fn()
        stages.append((name, time.perf_counter() - t))
        return value

    records = stage("chunk", lambda: chunk_corpus(corpus, CHUNKING))
    texts = stage("normalise (t2s)", lambda: [normalise(r.index_text) for r in records])
    sentences = [s for r in records for s in r.sentence_texts()]
    chunk_tokens = stage("tokenise chunks (jieba)", lambda: [tokenizer.tokens(r.index_text) for r in records])
    sent_tokens = stage("tokenise sentences (jieba)", lambda: [tokenizer.tokens(s) for s in sentences])
    stage("embed (encoder, no cache)", lambda: encoder.encode(texts))

    def bm25(tokens):  # noqa: ANN001, ANN202
        return lambda: bm25_index.build(tokens, BM25_K1, BM25_B)

    stage("BM25 index chunks", bm25(chunk_tokens))
    stage("BM25 index sentences", bm25(sent_tokens))
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp) / "index"
        stage("build_index, empty cache (overlapped)", lambda: build_index(corpus, index_dir, encoder, tokenizer, CHUNKING))
        changed = _corpus({**spec, "change_one": True})
        prof = cProfile.Profile()
        prof.enable()
        stage("build_index, one paragraph changed", lambda: build_index(changed, index_dir, encoder, tokenizer, CHUNKING))
        prof.disable()
    print(f"DRCD dev: {len(records)} chunks, {len(sentences)} sentences, {sum(map(len, texts))} characters")
    for name, seconds in stages:
        print(f"  {name:<42} {seconds:7.2f} s")
    print("\nbuild_index after one change, main thread (its BM25 thread is not profiled):")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(15)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "child":
        return _child_main(argv[1])
    if argv and argv[0] == "profile":
        from .procs import DEFAULT_DRCD
        from .drcd import split_path

        drcd = Path(argv[1]) if len(argv) > 1 else DEFAULT_DRCD
        try:
            profile(split_path(drcd, "dev"))
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        return 0
    print("usage: python -m bench.speed profile [DRCD_DIR]   (speed runs from bench/run.py)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
