"""bench/drcd_features.py: the extra ranking features and the pairwise model it fits."""

from __future__ import annotations

import numpy as np

from bench.drcd_features import _features, pairwise_logistic, recall_at_1


def test_features_of_a_paragraph_holding_the_question_are_full() -> None:
    q = "元朝被何人所灭"
    f = _features(q, ["元朝", "灭"], "元朝被何人所灭。后来的事", {"元朝", "灭"}, lambda t: 1.0, lambda c: 1.0)
    assert f == [1.0, 1.0, 1.0, 1.0]


def test_features_of_an_unrelated_paragraph_are_zero() -> None:
    f = _features("元朝被何人所灭", ["元朝"], "恒星的质量", {"恒星"}, lambda t: 1.0, lambda c: 1.0)
    assert f == [0.0, 0.0, 0.0, 0.0]


def test_pairwise_logistic_learns_the_informative_feature() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10, 2))
    gold = np.zeros((200, 10), dtype=bool)
    right = rng.integers(0, 10, size=200)
    gold[np.arange(200), right] = True
    x[np.arange(200), right, 1] += 4.0  # only feature 1 tells the right answer apart
    w = pairwise_logistic(x, gold)
    assert w[1] > 5 * abs(w[0])
    assert recall_at_1(x @ w, gold) > 0.9 > recall_at_1(x[:, :, 0], gold)
