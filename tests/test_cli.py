"""Every command of the command line, through click's runner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus"
    shutil.copytree(REPO / "corpus", corpus)
    index = root / "index"
    result = CliRunner().invoke(cli, ["--corpus", str(corpus), "--index", str(index), "build"])
    assert result.exit_code == 0, result.output
    assert "documents" in result.output and "chunks" in result.output
    return corpus, index


def run(dirs: tuple[Path, Path], *args: str, input: str | None = None):
    corpus, index = dirs
    return CliRunner().invoke(cli, ["--corpus", str(corpus), "--index", str(index), *args], input=input)


def test_help_explains_every_command() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    for cmd in ("build", "ask", "chat", "eval", "status"):
        assert cmd in out
        sub = CliRunner().invoke(cli, [cmd, "--help"])
        assert sub.exit_code == 0 and len(sub.output) > 140 and "Usage:" in sub.output


def test_ask_readable(dirs) -> None:
    r = run(dirs, "ask", "What is Executive Order 14330?")
    assert r.exit_code == 0 and "[1]" in r.output and "Sources:" in r.output


def test_ask_json(dirs) -> None:
    r = run(dirs, "ask", "--json", "2025年401(k)的员工供款上限是多少?")
    data = json.loads(r.output)
    assert data["lang"] == "zh-Hans" and data["no_answer"] is False
    assert data["passages"][0]["rank"] == 1 and data["passages"][0]["doc_id"].endswith(".md")


def test_ask_json_lines_from_stdin_with_conversations(dirs) -> None:
    lines = [
        {"question": "What did the 2022 Labor Department guidance say about crypto in 401(k) plans?", "conv": "c1"},
        {"question": "How do I bake sourdough bread?"},
        {"question": "後來被撤回了嗎?", "conv": "c1"},
        "not json",
    ]
    stdin = "\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + "\n"
    r = run(dirs, "ask", "--json", "-", input=stdin)
    assert r.exit_code == 0
    out = [json.loads(line) for line in r.output.strip().splitlines()]
    assert len(out) == 4
    assert out[0]["conv"] == "c1" and not out[0]["no_answer"]
    assert out[1]["no_answer"] and out[1]["passages"] == []
    assert out[2]["follow_up"] and out[2]["lang"] == "zh-Hant"
    assert "error" in out[3]


def test_chat_keeps_the_conversation(dirs) -> None:
    r = run(dirs, "chat", input="What did the 2022 Labor Department guidance say about crypto?\n後來被撤回了嗎?\n/lang zh-Hans\n/reset\n/quit\n")
    assert r.exit_code == 0
    assert "2025-01" in r.output and "(conversation forgotten)" in r.output


def test_eval(dirs) -> None:
    r = run(dirs, "eval", "--json", str(REPO / "tests" / "data" / "dev.jsonl"))
    metrics = json.loads(r.output)["metrics"]
    assert set(metrics) == {"en", "zh-Hans", "zh-Hant", "all"}
    assert metrics["all"]["refused_out"] == 1.0
    table = run(dirs, "eval", str(REPO / "tests" / "data" / "dev.jsonl")).output
    assert "| zh-Hans |" in table and "hit@3" in table


def test_status(dirs) -> None:
    r = run(dirs, "status")
    assert r.exit_code == 0 and "up to date" in r.output


def test_malformed_corpus_file_is_one_clear_line(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.md").write_text("# Good\nA fine document about 401(k) plans.\n", encoding="utf-8")
    (corpus / "bad.md").write_text("---\ntitle: [unclosed\n---\nBody.\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["--corpus", str(corpus), "--index", str(tmp_path / "idx"), "build"])
    assert r.exit_code == 3
    assert "bad.md:2" in r.output and "Traceback" not in r.output and "--skip-bad" in r.output
    r = CliRunner().invoke(cli, ["--corpus", str(corpus), "--index", str(tmp_path / "idx"), "build", "--skip-bad"])
    assert r.exit_code == 0 and "skipped:" in r.output and "1 documents" in r.output


def test_missing_index_with_no_build_names_the_fix(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\nText about ERISA.\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["--corpus", str(corpus), "--index", str(tmp_path / "idx"), "ask", "--no-build", "ERISA?"])
    assert r.exit_code == 3 and "edubot build" in r.output and "Traceback" not in r.output


def test_missing_corpus_folder(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["--corpus", str(tmp_path / "none"), "--index", str(tmp_path / "i"), "ask", "x"])
    assert r.exit_code == 3 and "corpus folder not found" in r.output


def test_bad_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "edubot.toml"
    cfg.write_text('traditional = "s2x"\n', encoding="utf-8")
    r = CliRunner().invoke(cli, ["--config", str(cfg), "status"])
    assert r.exit_code == 3 and "traditional" in r.output


def test_ask_with_a_malformed_file_and_skip_bad(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.md").write_text("# ERISA\nERISA requires fiduciaries to act prudently.\n", encoding="utf-8")
    (corpus / "bad.md").write_text("---\ndate: 2025-13-45\n---\nBody.\n", encoding="utf-8")
    base = ["--corpus", str(corpus), "--index", str(tmp_path / "idx")]
    r = CliRunner().invoke(cli, [*base, "ask", "What does ERISA require?"])
    assert r.exit_code == 3 and "bad.md:2" in r.output and "--skip-bad" in r.output
    r = CliRunner().invoke(cli, [*base, "--skip-bad", "ask", "--json", "What does ERISA require?"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output.strip().splitlines()[-1])
    assert data["passages"][0]["doc_id"] == "good.md"
