"""Smoke test of the benchmark harness on a slice of DRCD dev (first 20 paragraphs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DRCD = ROOT.parent / "shared" / "benchmarks" / "drcd"
if str(ROOT) not in sys.path:  # bench/ lives beside bot/ and is not installed
    sys.path.insert(0, str(ROOT))

needs_drcd = pytest.mark.skipif(not (DRCD / "DRCD_dev.json").is_file(),
                                reason=f"DRCD benchmark data not found at {DRCD}")


@pytest.fixture(scope="module")
def drcd_slice(tmp_path_factory):
    from bench.common import CachedEncoder
    from bench.drcd import run_split
    from bot.encoders import EmbeddingCache, load_encoder

    tmp = tmp_path_factory.mktemp("drcd")
    with EmbeddingCache(tmp / "embeddings.sqlite") as cache:
        encoder = CachedEncoder(load_encoder("use-multilingual"), cache)
        return run_split(DRCD / "DRCD_dev.json", encoder, tmp, paragraphs=20, latency_sample=5)


@needs_drcd
def test_drcd_metrics_are_well_formed(drcd_slice):
    from bench.common import ROW_KEYS
    from bench.drcd import KMAX, SCRIPTS

    res = drcd_slice
    assert res.paragraphs == 20
    assert res.questions >= 20
    assert res.multi_chunk_paragraphs == 0  # one chunk per paragraph
    for script in SCRIPTS:
        assert tuple(res.ranks[script]) == ROW_KEYS
        for row in ROW_KEYS:
            ranks = res.ranks[script][row]
            assert len(ranks) == res.questions
            assert all(r is None or 1 <= r <= KMAX for r in ranks)
            m = res.metrics(script, row)
            assert 0.0 <= m["r@1"] <= m["mrr"] <= m["r@20"] <= 1.0
            assert m["r@1"] <= m["r@5"] <= m["r@20"]
            curve = res.curve(script, row)
            assert len(curve) == KMAX and curve == sorted(curve)
    assert set(res.latency_ms) == set(ROW_KEYS)
    assert all(len(v) == 5 and min(v) > 0 for v in res.latency_ms.values())
    json.dumps(res.to_json())  # the report is JSON-serialisable


@needs_drcd
def test_hybrid_finds_the_paragraph_in_both_scripts(drcd_slice):
    for script in ("Traditional", "Simplified"):
        assert drcd_slice.metrics(script, "hybrid")["r@5"] >= 0.95, script


@needs_drcd
def test_report_renders_tables_targets_and_chart(drcd_slice, tmp_path):
    from bench.common import LABELS
    from bench.report import chart, drcd_table, markdown, targets

    results = {"quick": True, "headline": "dev", "drcd": {"dev": drcd_slice.to_json()}, "seconds": 1.0,
               "environment": {"date": "today", "commit": "abc", "python": "3.11", "cpus": "2", "load": "0"}}
    table = drcd_table(results["drcd"]["dev"])
    assert all(label in table for label in LABELS.values())
    verdicts = targets(results)
    assert any("recall@1, Simplified" in t for t, _, _ in verdicts)
    assert all(ok in (True, False, None) for _, _, ok in verdicts)
    assert chart(results, tmp_path / "b.png") and (tmp_path / "b.png").stat().st_size > 10_000
    assert "![recall@k" in markdown(results, "b.png")


def test_raw_tokenizer_keeps_the_script_and_its_stopwords():
    from bench.common import RawTokenizer
    from bot.tokens import Tokenizer

    raw, norm = RawTokenizer(), Tokenizer()
    text = "什麼是資產配置?"
    assert "资产" in norm.tokens(text)
    assert any("資產" in t for t in raw.tokens(text))
    assert not any("什麼" in t or "什么" in t for t in raw.tokens(text))


def test_peak_memory_is_the_measured_process_not_the_parent():
    import numpy as np

    from bench.procs import run_measured

    ballast = np.ones(200_000_000, dtype=np.uint8)  # make this process large
    small = run_measured([sys.executable, "-c", "print('ok')"])
    assert small.returncode == 0 and small.stdout.strip() == "ok"
    assert small.max_rss_mb < 100 < ballast.nbytes / 2**20
    big = run_measured([sys.executable, "-c", "import sys; b = b'x' * (150 * 2**20); sys.exit(3)"])
    assert big.returncode == 3
    assert big.max_rss_mb > 150 > small.max_rss_mb


def test_bench_command_is_registered():
    from bot.cli import cli

    assert "bench" in cli.commands
