"""Tables, targets and the chart of a benchmark run (a JSON-able ``results`` dict)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .common import LABELS, PEER, ROW_KEYS, fmt, markdown_table

SCRIPTS = ("Traditional", "Simplified")
DRCD_TARGET = 0.965
SCRIPT_GAP = 0.005
BUILD_EMPTY_S = 20.0
BUILD_CHANGED_S = 2.0
WARM_P95_MS = 30.0
COLD_START_S = 3.0


# -- DRCD ----------------------------------------------------------------------------


def drcd_table(split: dict[str, Any]) -> str:
    header = ["row"] + [f"{s[:4]}. {m}" for s in SCRIPTS for m in ("R@1", "R@5", "R@20", "MRR")] + ["ms p50 / p95"]
    rows = []
    for key in ROW_KEYS:
        if key not in split["metrics"][SCRIPTS[0]]:
            continue
        cells = [LABELS[key]]
        for s in SCRIPTS:
            m = split["metrics"][s][key]
            cells += [fmt(m["r@1"]), fmt(m["r@5"]), fmt(m["r@20"]), fmt(m["mrr"])]
        lat = split.get("latency_ms", {}).get(key)
        cells.append(f"{fmt(lat['p50'], 1)} / {fmt(lat['p95'], 1)}" if lat else "n/a")
        rows.append(cells)
    return markdown_table(header, rows)


# -- domain --------------------------------------------------------------------------


def domain_table(domain: dict[str, Any]) -> str:
    langs = [lang for lang in ("zh-Hant", "zh-Hans", "en", "all") if lang in domain["metrics"]["hybrid"]]
    header = ["row"] + [f"{lang} hit@1/3/5" for lang in langs] + ["out-of-scope refused", "in-scope refused"]
    rows = []
    for key in ROW_KEYS:
        per = domain["metrics"].get(key)
        if per is None:
            continue
        cells = [LABELS[key]]
        for lang in langs:
            m = per[lang]
            cells.append(" / ".join(fmt(m[f"hit@{k}"], 2) for k in (1, 3, 5)) + f" (n={m['in_scope']})")
        cells += [fmt(per["all"]["refused_out"], 2), fmt(per["all"]["refused_in"], 2)]
        rows.append(cells)
    return markdown_table(header, rows)


# -- speed ---------------------------------------------------------------------------


def _ratio(project: float, peer: float) -> str:
    if not peer or math.isnan(peer) or math.isnan(project):
        return "n/a"
    return f"{project / peer:.2f}×"


def speed_table(speed: dict[str, Any]) -> str:
    rows: list[list[str]] = []
    for corpus, builds in speed.get("builds", {}).items():
        p, r = builds["project"], builds[PEER]
        for stage, label in (("empty", "from an empty embedding cache"), ("changed", "after one document changed")):
            rows.append([f"index build, {corpus}, {label} (s)", fmt(p[stage]["build_s"], 2), fmt(r[stage]["build_s"], 2),
                         _ratio(p[stage]["build_s"], r[stage]["build_s"])])
            st = p[stage].get("stages", {})
            if "embed" in st and "bm25" in st:
                rows.append(["  project: embedded by / BM25 ready by / written by (s)",
                             f"{st['embed']:.2f} / {st['bm25']:.2f} / {p[stage]['build_s']:.2f}", "", ""])
            rows.append(["  whole process: wall / CPU (s)", f"{fmt(p[stage]['wall_s'], 1)} / {fmt(p[stage]['cpu_s'], 1)}",
                         f"{fmt(r[stage]['wall_s'], 1)} / {fmt(r[stage]['cpu_s'], 1)}", "CPU " + _ratio(p[stage]["cpu_s"], r[stage]["cpu_s"])])
            rows.append(["  peak memory of that process (MB)", fmt(p[stage]["max_rss_mb"], 0),
                         fmt(r[stage]["max_rss_mb"], 0), _ratio(p[stage]["max_rss_mb"], r[stage]["max_rss_mb"])])
        rows.append(["  chunks / embedded after the change", f"{p['changed']['chunks']} / {p['changed']['embedded']}",
                     f"{r['changed']['chunks']} / {r['changed']['embedded']}", ""])
    lat = speed.get("latency")
    if lat:
        for pct in ("p50", "p95"):
            rows.append([f"warm latency {pct}, Engine.answer (ms)", fmt(lat["project-answer"][pct], 1),
                         fmt(lat[PEER][pct], 1), _ratio(lat["project-answer"][pct], lat[PEER][pct])])
            rows.append([f"warm latency {pct}, Engine.search only (ms)", fmt(lat["project-search"][pct], 1),
                         fmt(lat[PEER][pct], 1), _ratio(lat["project-search"][pct], lat[PEER][pct])])
    cold = speed.get("cold")
    if cold:
        rows.append(["cold start, one question (s)", fmt(cold["project"]["seconds"], 2), fmt(cold[PEER]["seconds"], 2),
                     _ratio(cold["project"]["seconds"], cold[PEER]["seconds"])])
        rows.append(["  CPU time of that process (s)", fmt(cold["project"]["cpu_s"], 2), fmt(cold[PEER]["cpu_s"], 2),
                     _ratio(cold["project"]["cpu_s"], cold[PEER]["cpu_s"])])
        rows.append(["  peak memory of that process (MB)", fmt(cold["project"]["max_rss_mb"], 0),
                     fmt(cold[PEER]["max_rss_mb"], 0), _ratio(cold["project"]["max_rss_mb"], cold[PEER]["max_rss_mb"])])
    qps = speed.get("qps")
    if qps:
        rows.append([f"questions per second, {qps['project']['workers']} worker processes", fmt(qps["project"]["qps"], 1),
                     fmt(qps[PEER]["qps"], 1), _ratio(qps["project"]["qps"], qps[PEER]["qps"])])
    return markdown_table(["measure", "project", "common recipe", "project / recipe"], rows)


# -- targets -------------------------------------------------------------------------


def _beats(hybrid: list[float], other: list[float]) -> bool:
    """At least as good on every metric and better on one (a tie at 1.0 everywhere counts too)."""
    if any(math.isnan(x) for x in hybrid + other):
        return False
    return all(h >= o for h, o in zip(hybrid, other)) and (hybrid != other or all(h == 1.0 for h in hybrid))


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, passed); passed is None when not measured in this run."""
    out: list[tuple[str, str, bool | None]] = []
    drcd = results.get("drcd", {})
    head_name = results.get("headline")
    head = drcd.get(head_name) if head_name else None
    where = f"DRCD {head_name}" + (" (quick subset: the headline is test)" if results.get("quick") else "")
    if head:
        r1 = {s: head["metrics"][s]["hybrid"]["r@1"] for s in SCRIPTS}
        for s in SCRIPTS:
            out.append((f"{where} recall@1, {s} ≥ {DRCD_TARGET}", fmt(r1[s]), r1[s] >= DRCD_TARGET))
        gap = r1["Traditional"] - r1["Simplified"]
        out.append((f"{where} Simplified within {SCRIPT_GAP} of Traditional", f"{gap:+.3f}", abs(gap) <= SCRIPT_GAP))
        metrics = ("r@1", "mrr", "r@5", "r@20")
        lost = []
        for s in SCRIPTS:
            m = head["metrics"][s]
            h = [m["hybrid"][x] for x in metrics]
            for k in m:
                if k != "hybrid" and not _beats(h, [m[k][x] for x in metrics]):
                    worse = [f"{x} {m['hybrid'][x]:.4f} vs {m[k][x]:.4f}" for x in metrics if m["hybrid"][x] < m[k][x]]
                    lost.append(f"{s[:4]}. {k} ({', '.join(worse) or 'tie'})")
        out.append((f"hybrid beats every other row on {where} (R@1, MRR, R@5, R@20), both scripts",
                    "yes" if not lost else "not: " + "; ".join(lost), not lost))
    else:
        out.append((f"DRCD recall@1 ≥ {DRCD_TARGET}, scripts within {SCRIPT_GAP}", "not measured", None))
    domain = results.get("domain")
    if domain:
        lost = []
        hyb = domain["metrics"]["hybrid"]
        for key, per in domain["metrics"].items():
            if key == "hybrid":
                continue
            for lang, m in per.items():
                if lang == "all":
                    continue
                if not _beats([hyb[lang][f"hit@{k}"] or 0.0 for k in (1, 3, 5)], [m[f"hit@{k}"] or 0.0 for k in (1, 3, 5)]):
                    lost.append(f"{lang}: {key}")
        out.append(("hybrid beats every other row on the domain questions (hit@1/3/5), every language",
                    "yes" if not lost else "not: " + ", ".join(lost), not lost))
    speed = results.get("speed", {})
    builds = speed.get("builds", {}).get("drcd-dev")
    if builds:
        empty, changed = builds["project"]["empty"]["build_s"], builds["project"]["changed"]["build_s"]
        out.append((f"DRCD dev index build ≤ {BUILD_EMPTY_S:g} s from an empty cache", f"{empty:.2f} s", empty <= BUILD_EMPTY_S))
        out.append((f"DRCD dev index build ≤ {BUILD_CHANGED_S:g} s after one document changed", f"{changed:.2f} s",
                    changed <= BUILD_CHANGED_S))
    else:
        out.append(("DRCD dev index build times", "not measured", None))
    if speed.get("latency"):
        p95 = speed["latency"]["project-answer"]["p95"]
        out.append((f"warm p95 ≤ {WARM_P95_MS:g} ms (Engine.answer, bundled corpus)", f"{p95:.1f} ms", p95 <= WARM_P95_MS))
    if speed.get("cold"):
        cold = speed["cold"]["project"]["seconds"]
        out.append((f"cold start ≤ {COLD_START_S:g} s (edubot ask --no-build)", f"{cold:.2f} s", cold <= COLD_START_S))
    return out


def targets_table(rows: list[tuple[str, str, bool | None]]) -> str:
    verdict = {True: "PASS", False: "FAIL", None: "—"}
    return markdown_table(["target", "measured", ""], [[t, m, verdict[ok]] for t, m, ok in rows])


# -- chart ---------------------------------------------------------------------------


def chart(results: dict[str, Any], path: Path) -> bool:
    """Recall@k curves per row for both scripts, and latency per row. False if nothing to plot."""
    head = results.get("drcd", {}).get(results.get("headline") or "")
    if not head:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 - used as matplotlib.ticker below

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), gridspec_kw={"width_ratios": [1, 1, 0.9]})
    colours = {"bm25-raw": "#9e9e9e", "bm25": "#1f77b4", "dense": "#2ca02c", "hybrid": "#d62728", "recipe": "#ff7f0e"}
    ks = list(range(1, 21))
    for ax, script in zip(axes[:2], SCRIPTS):
        for key in ROW_KEYS:
            curve = head["curves"][script].get(key)
            if curve:
                ax.plot(ks, curve, marker="o", markersize=3, label=LABELS[key], color=colours[key],
                        linewidth=2.2 if key == "hybrid" else 1.4)
        ax.set_title(f"DRCD {results['headline']}: {script} questions")
        ax.set_xlabel("k")
        ax.set_ylabel("recall@k")
        ax.set_xticks([1, 5, 10, 15, 20])
        ax.set_ylim(0.4, 1.0)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    lat = head.get("latency_ms", {})
    keys = [k for k in ROW_KEYS if k in lat]
    ax = axes[2]
    p50 = [lat[k]["p50"] for k in keys]
    p95 = [lat[k]["p95"] for k in keys]
    ypos = range(len(keys))
    ax.barh(ypos, p95, color=[colours[k] for k in keys], alpha=0.35, label="p95")
    ax.barh(ypos, p50, color=[colours[k] for k in keys], label="p50")
    ax.set_yticks(list(ypos), [LABELS[k].split(" (")[0].replace("Common recipe: ", "recipe: ") for k in keys], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ticks = [t for t in (0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000) if min(p50) / 3 <= t <= max(p95) * 3]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("ms per question, warm (log scale)")
    ax.set_title(f"Latency per question, {head['paragraphs']} paragraphs\n(p50 solid, p95 light)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# -- the document ----------------------------------------------------------------------

BUSY = 0.15  # share of the CPUs used by other work above which timings are flagged


def _loads(values) -> str:  # noqa: ANN001
    return ", ".join(f"{v:.2f}" for v in values)


def _load_note(speed: dict[str, Any]) -> str:
    before, after = speed.get("busy_before", float("nan")), speed.get("busy_after", float("nan"))
    note = f"Other work used {fmt(before * 100, 0)}% of the CPUs just before the speed runs"
    if "busy_after" in speed:
        note += (f" and {fmt(after * 100, 0)}% just after (load average {_loads(speed['load_before'])} before, "
                 f"{_loads(speed['load_after'])} after)")
    note += "."
    if before > BUSY or after > BUSY:
        note = ("**The machine was busy with other work during these runs, so the times above are inflated, "
                "for the recipe too; rerun on an idle machine (`--wait-idle 600`) for figures to compare with "
                "the targets.** ") + note
    return note


def markdown(results: dict[str, Any], image: str | None) -> str:
    env = results["environment"]
    quick = results.get("quick")
    parts = [
        "# Benchmarks" + (" (quick run: DRCD dev subset)" if quick else ""),
        "",
        "Generated by `python bench/run.py` (or `edubot bench`); rerun it to refresh every number, the table and the chart. "
        "`python bench/run.py --quick` checks a change in about a minute on DRCD dev questions only.",
        "",
        f"Run: {env['date']}, commit {env['commit']}, Python {env['python']}, {env['cpus']} CPUs, "
        f"load average {env['load']} at the start, {results['seconds']:.0f} s in all.",
        "",
        "**Rows.** Every row ranks the same chunks of the same index: "
        "(a) BM25 without script normalisation (the project's jieba tokenizer on the text as written, no OpenCC); "
        "(b) BM25 with normalisation (the project's tokenizer: NFKC, OpenCC `t2s`, lower case; bm25s k1=0.9 b=0.4); "
        "(c) dense only (the project's encoder, Universal Sentence Encoder multilingual, over normalised text); "
        "(d) the project's hybrid retrieval (`Engine.search` over an index built by `bot.index.build_index`; "
        "`Engine.answer` on the domain questions); "
        "(e) the common recipe, the peer baseline: FAISS `IndexFlatIP` over the same encoder on the original text, "
        "no BM25, no OpenCC (`bench/recipe.py`).",
        "",
    ]
    drcd = results.get("drcd", {})
    if drcd:
        parts += [
            "## DRCD passage retrieval",
            "",
            "DRCD (Delta Reading Comprehension Dataset, Traditional Chinese, CC BY-SA 3.0, Delta Research Center): "
            "each of the 1,000 paragraphs of a split is one document (no title; one chunk, `ChunkSettings(3000, 0)`); "
            "each question should find its own paragraph. Questions are asked as written (Traditional) and converted "
            "to Simplified with OpenCC (`bot.script.to_simplified`). MRR counts the first 20 results. "
            "Latency is warm, per question, with the real encoder (no embedding cache), on a sample of the questions.",
            "",
        ]
        for name, split in drcd.items():
            role = "headline" if name == results.get("headline") and not quick else ("used for tuning" if name == "dev" else "")
            parts += [f"### {name}{f' ({role})' if role else ''}: {split['paragraphs']} paragraphs, "
                      f"{split['questions']} questions", "", drcd_table(split), ""]
            busy = results.get("busy", {}).get(f"drcd-{name}", float("nan"))
            if busy > BUSY:
                parts += [f"Other work used {busy * 100:.0f}% of the CPUs when this split started: its latencies "
                          "are inflated.", ""]
        if image:
            parts += [f"![recall@k per row and latency per row]({image})", ""]
    domain = results.get("domain")
    if domain:
        parts += [
            "## Domain questions",
            "",
            f"`dev.jsonl`: {domain['questions']} questions over the bundled corpus ({domain['documents']} documents, "
            f"{domain['chunks']} chunks). A question is answered at k when one of its keys occurs in one of the first "
            "k passages (`bot.evaluation`). The hybrid row is the whole engine, with conversations and the coverage gate; "
            "a refused in-scope question counts as a miss. The other rows only rank, so they never refuse (n/a) and "
            "answer follow-up turns without the earlier turn.",
            "",
            domain_table(domain),
            "",
        ]
    speed = results.get("speed")
    if speed:
        parts += [
            "## Speed and memory",
            "",
            "Each figure is measured in separate processes on this machine in this run, the project and the recipe "
            f"alternating, and is the best of {speed.get('repeats', 1)} run(s) (cold start: of 5 after a warm-up "
            "run; 2 in a quick run), so a burst of other work on the machine does not decide it. Memory is the "
            "measured process's own peak resident size (`ru_maxrss`, largest of the runs). "
            "Builds start from an empty embedding cache in a fresh temporary folder; the second build changes one "
            "document and reuses the project's caches (the recipe has none and embeds everything again). "
            "Build seconds are `build_index` (project) or embed-and-add (recipe) inside the process; the process "
            "line adds start-up, encoder and jieba loading. "
            "Cold start is the wall time of `edubot ask --no-build \"...\"` with the index built, against "
            "`python -m bench.recipe ask`. Warm latency is per question after five warm-up questions, over "
            f"{speed.get('pool', 'the')} domain questions (each also in the other Chinese script). Throughput runs two "
            "worker processes, each with its own engine, over those questions several times at once; repeated "
            "questions find their sentences in the engine's per-process vector cache, as popular questions do in "
            "use. The recipe only retrieves; `Engine.answer` also detects the script, gates, picks and converts "
            "quotes and cites them.",
            "",
            speed_table(speed),
            "",
            _load_note(speed),
            "",
        ]
        if "drcd-dev" not in speed.get("builds", {}):
            parts += ["DRCD dev build times are measured by the full run only.", ""]
    parts += ["## Targets", "",
              "“Beats” means at least as good on every metric of the table and better on at least one.", "",
              targets_table(targets(results)), ""]
    errors = results.get("errors")
    if errors:
        parts += ["## Errors in this run", "", *[f"- {name}: {msg}" for name, msg in errors.items()], ""]
    notes = results.get("notes")
    if notes:
        parts += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(parts)
