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


@pytest.mark.parametrize("lang", ["zh-Hant", "zh-Hans"])
def test_chinese_hit_at_3_meets_target(dev_report, lang: str) -> None:
    assert dev_report.metrics()[lang]["hit@3"] >= 0.95


def test_english_hit_at_3_does_not_regress(dev_report) -> None:
    # Target 0.95; measured 0.909 (10/11): one English question whose only answer is
    # in the Chinese article ("limits ... on crypto allocations" -> 白名單、權重上限) is
    # not yet found in the top 3. See the issue notes.
    assert dev_report.metrics()["en"]["hit@3"] >= 0.9


def test_calibration_questions(calibration_report) -> None:
    # Project-written questions (not dev wording): in-scope hit@3 measured 0.947.
    assert calibration_report.metrics()["all"]["hit@3"] >= 0.94


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
