"""BM25 building and storage (bot.bm25): the same scores as bm25s, files that round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot import bm25

TOKENS = st.sampled_from(["a", "b", "c", "ab", "~ab", "401k", "托管", "~托管", "x" * 30])
CORPORA = st.lists(st.lists(TOKENS, max_size=30), min_size=1, max_size=40)


def reference(docs: list[list[str]], k1: float = 0.9, b: float = 0.4) -> bm25s.BM25:
    model = bm25s.BM25(k1=k1, b=b)
    model.index(docs, show_progress=False)
    return model


def scores(model: bm25s.BM25, query: list[str]) -> np.ndarray:
    ids = model.get_tokens_ids(query)
    return model.get_scores_from_ids(ids) if ids else np.zeros(model.scores["num_docs"], dtype=np.float32)


@settings(max_examples=150, deadline=None)
@given(docs=CORPORA, query=st.lists(TOKENS, min_size=1, max_size=6),
       k1=st.sampled_from([0.9, 1.2, 1.5]), b=st.sampled_from([0.0, 0.4, 0.75]))
def test_scores_match_bm25s(docs: list[list[str]], query: list[str], k1: float, b: float) -> None:
    assume(any(docs))  # bm25s cannot index a corpus without a single token
    ours, ref = bm25.build(docs, k1, b), reference(docs, k1, b)
    np.testing.assert_allclose(scores(ours, query), scores(ref, query), rtol=1e-5, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(docs=CORPORA)
def test_document_frequencies(docs: list[list[str]]) -> None:
    df = bm25.document_frequencies(bm25.build(docs, 0.9, 0.4))
    expected: dict[str, int] = {}
    for d in docs:
        for t in set(d):
            expected[t] = expected.get(t, 0) + 1
    assert df == expected


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    docs = [["托管", "~托管", "custody"], ["401k", "plan", "plan"], []]
    model = bm25.build(docs, 0.9, 0.4)
    bm25.save(model, tmp_path / "bm25")
    assert sorted(p.name for p in (tmp_path / "bm25").iterdir()) == sorted(bm25.FILES)
    loaded = bm25.load(tmp_path / "bm25")
    assert loaded.vocab_dict == model.vocab_dict and (loaded.k1, loaded.b) == (0.9, 0.4)
    for q in (["托管"], ["plan", "custody"], ["unknown"]):
        np.testing.assert_array_equal(scores(loaded, q), scores(model, q))
    assert scores(loaded, ["plan"]).argmax() == 1


def test_nothing_is_pickled(tmp_path: Path) -> None:
    bm25.save(bm25.build([["a", "b"], ["b"]], 0.9, 0.4), tmp_path)
    for name in ("data", "indices", "indptr"):
        arr = np.load(tmp_path / f"{name}.npy", allow_pickle=False)  # raises on object arrays
        assert arr.dtype != object


def test_mismatched_files_are_refused(tmp_path: Path) -> None:
    bm25.save(bm25.build([["a", "b"], ["b", "c"]], 0.9, 0.4), tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps(["a"]), encoding="utf-8")
    with pytest.raises(ValueError, match="do not match"):
        bm25.load(tmp_path)


def test_empty_documents_score_zero() -> None:
    model = bm25.build([[], ["a"]], 0.9, 0.4)
    assert scores(model, ["a"]).tolist()[0] == 0.0 and scores(model, ["a"])[1] > 0
