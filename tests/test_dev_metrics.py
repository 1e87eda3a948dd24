"""Integration: build over the bundled corpus and hold the dev.jsonl metrics.

The floors are the measured values (see README "Measured"): a change that makes any
of them worse fails here. Targets not met yet are marked as such, not lowered away.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.evaluation import evaluate, read_items

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def dev_report(engine):
    return evaluate(engine, read_items(DATA / "dev.jsonl"))


@pytest.fixture(scope="module")
def calibration_report(engine):
    return evaluate(engine, read_items(DATA / "calibration.jsonl"))


@pytest.mark.parametrize("lang", ["zh-Hant", "zh-Hans", "en"])
def test_hit_at_3_meets_target(dev_report, lang: str) -> None:
    # English questions include ones answered only by the Chinese article, e.g.
    # "limits ... on crypto allocations" -> 白名單、權重上限 (measured 1.0 in every language).
    assert dev_report.metrics()[lang]["hit@3"] >= 0.95


def test_calibration_questions(calibration_report) -> None:
    # Project-written questions (not dev wording), including five English questions
    # answered only by the Chinese article: in-scope hit@3 measured 0.917 (22/24; the
    # misses are "How much can I put into a 401(k) in 2026?" at rank 5 and an article
    # question at rank 5).
    assert calibration_report.metrics()["all"]["hit@3"] >= 0.9
    assert calibration_report.metrics()["en"]["hit@3"] >= 0.8


def test_policy_questions_answered_at_3_in_every_language(dev_report) -> None:
    for name, m in dev_report.by_scope().items():
        if name.startswith("policy/"):
            assert m["hit@3"] == 1.0, name


def test_refusals_exact(dev_report, calibration_report) -> None:
    for report in (dev_report, calibration_report):
        m = report.metrics()["all"]
        assert m["refused_out"] == 1.0  # every off-topic question refused
        assert m["refused_in"] == 0.0  # no in-scope question refused


def test_script_detection(dev_report) -> None:
    assert dev_report.metrics()["all"]["script_ok"] == 1.0
