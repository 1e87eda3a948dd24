"""Evaluation on question files in the ``dev.jsonl`` format.

Each line: ``{"id", "lang", "scope": "article"|"policy"|"out", "question", "keys", "conv"?}``.
A question counts as answered at k when any key occurs in any of the top-k passages
the engine returned, comparing after OpenCC ``t2s``, lower-casing and dropping
whitespace. A refused question returns no passages, so it is a miss. Lines sharing
a ``conv`` are consecutive turns of one conversation.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .conversation import Conversation
from .engine import Engine
from .script import to_simplified

KS = (1, 3, 5)


class EvalFileError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    lang: str
    scope: str
    question: str
    keys: tuple[str, ...] = ()
    conv: str | None = None


@dataclass
class ItemResult:
    item: Item
    no_answer: bool
    hit_rank: int | None  # 1-based rank of the first passage holding a key
    ms: float
    detected_lang: str


@dataclass
class Report:
    results: list[ItemResult] = field(default_factory=list)

    def groups(self) -> dict[str, list[ItemResult]]:
        out: dict[str, list[ItemResult]] = defaultdict(list)
        for r in self.results:
            out[r.item.lang].append(r)
            out["all"].append(r)
        return dict(out)

    def metrics(self) -> dict[str, dict[str, Any]]:
        table: dict[str, dict[str, Any]] = {}
        for name, rows in sorted(self.groups().items(), key=lambda kv: (kv[0] == "all", kv[0])):
            ins = [r for r in rows if r.item.scope != "out"]
            out = [r for r in rows if r.item.scope == "out"]
            m: dict[str, Any] = {"in_scope": len(ins), "out_of_scope": len(out)}
            for k in KS:
                m[f"hit@{k}"] = _ratio(sum(1 for r in ins if r.hit_rank is not None and r.hit_rank <= k), len(ins))
            m["refused_out"] = _ratio(sum(1 for r in out if r.no_answer), len(out))
            m["refused_in"] = _ratio(sum(1 for r in ins if r.no_answer), len(ins))
            m["script_ok"] = _ratio(sum(1 for r in rows if r.detected_lang == r.item.lang), len(rows))
            table[name] = m
        return table

    def by_scope(self) -> dict[str, dict[str, Any]]:
        table: dict[str, dict[str, Any]] = {}
        for scope in sorted({r.item.scope for r in self.results} - {"out"}):
            for lang in sorted({r.item.lang for r in self.results}):
                rows = [r for r in self.results if r.item.scope == scope and r.item.lang == lang]
                if rows:
                    table[f"{scope}/{lang}"] = {
                        "n": len(rows),
                        **{f"hit@{k}": _ratio(sum(1 for r in rows if r.hit_rank and r.hit_rank <= k), len(rows))
                           for k in KS},
                    }
        return table


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def squash(text: str) -> str:
    return re.sub(r"\s+", "", to_simplified(text).lower())


def read_items(path: Path) -> list[Item]:
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalFileError(f"{path}: cannot read ({exc.strerror})") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            items.append(Item(str(d["id"]), d["lang"], d["scope"], d["question"], tuple(d.get("keys") or ()),
                              d.get("conv")))
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalFileError(f"{path}:{n}: not an evaluation line ({exc})") from None
    return items


def evaluate(engine: Engine, items: list[Item], k: int = 5) -> Report:
    report = Report()
    conversations: dict[str, Conversation] = {}
    for item in items:
        conv = conversations.setdefault(item.conv, Conversation()) if item.conv else None
        t = time.perf_counter()
        ans = engine.answer(item.question, conv, k=k)
        ms = (time.perf_counter() - t) * 1000
        if conv is not None and ans.turn is not None:
            conv.append(ans.turn)
        keys = [squash(key) for key in item.keys]
        rank = None
        for p in ans.passages:
            if any(key in squash(p.text) for key in keys):
                rank = p.rank
                break
        det = engine.detect_lang(item.question, None, None)[0]
        report.results.append(ItemResult(item, ans.no_answer, rank, ms, det))
    return report


def format_report(report: Report) -> str:
    metrics = report.metrics()
    cols = ["in_scope", "hit@1", "hit@3", "hit@5", "refused_in", "out_of_scope", "refused_out", "script_ok"]
    lines = ["| lang | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, m in metrics.items():
        lines.append(f"| {name} | " + " | ".join("-" if m[c] is None else str(m[c]) for c in cols) + " |")
    scopes = report.by_scope()
    if scopes:
        lines += ["", "| scope/lang | n | hit@1 | hit@3 | hit@5 |", "|---|---|---|---|---|"]
        for name, m in scopes.items():
            lines.append(f"| {name} | {m['n']} | {m['hit@1']} | {m['hit@3']} | {m['hit@5']} |")
    misses = [r for r in report.results if (r.item.scope != "out" and (r.hit_rank is None or r.hit_rank > 3))
              or (r.item.scope == "out" and not r.no_answer)]
    if misses:
        lines += ["", "Misses (in-scope not in top 3, or out-of-scope answered):"]
        for r in misses:
            what = "answered" if r.item.scope == "out" else ("refused" if r.no_answer else f"rank {r.hit_rank}")
            lines.append(f"- {r.item.id} [{r.item.lang}/{r.item.scope}] {r.item.question} -> {what}")
    return "\n".join(lines)
