"""`edubot add / remove / list` end to end: a local web site, real extraction, the real
index, and `edubot ask` citing the added documents in Traditional and Simplified.

Offline: pages come from an http.server on 127.0.0.1 started here; the corpus is a
copy of the bundled one with an index built once per session (see test_ingest.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.corpus import load_corpus
from bot.script import detect, script_marks

_spec = importlib.util.spec_from_file_location("_ingest_test_helpers", Path(__file__).with_name("test_ingest.py"))
assert _spec and _spec.loader
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

ZH_PAGE = "/fees-zh.html"
PDF = "/plan.pdf"


@pytest.fixture(scope="module", autouse=True)
def _direct_connections() -> Iterator[None]:
    """Requests to 127.0.0.1 must not go through a proxy configured in the environment."""
    with pytest.MonkeyPatch.context() as mp:
        helpers.no_proxy(mp)
        yield


@pytest.fixture(scope="module")
def site(_direct_connections: None) -> Iterator[str]:
    with helpers.serve(helpers.pages()) as url:
        yield url


def run(dirs: tuple[Path, Path], *args: str) -> Result:
    corpus, index = dirs
    return CliRunner().invoke(cli, ["--corpus", str(corpus), "--index", str(index), *args])


@pytest.fixture()
def dirs(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh corpus copy with an up-to-date index, per test."""
    return helpers.fresh_copy(helpers.base_index(tmp_path_factory), tmp_path)


@pytest.fixture(scope="module")
def populated(site: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[Path, Path], Result]:
    """The corpus after `edubot add` of a Traditional Chinese page and an English PDF."""
    dest = tmp_path_factory.mktemp("populated")
    d = helpers.fresh_copy(helpers.base_index(tmp_path_factory), dest)
    result = run(d, "add", site + ZH_PAGE, site + PDF)
    return d, result


QUESTIONS = {
    "zh-Hant": "春田市教師退休計劃每年向每位參與者收取多少行政費用?",
    "zh-Hans": "春田市教师退休计划每年向每位参与者收取多少行政费用?",
    "pdf": "What loan origination fee does the Lakeside Nurses' 403(b) Plan charge?",
    "off-topic": "How do I bake sourdough bread?",
}


@pytest.fixture(scope="module")
def answers(populated: tuple) -> dict[str, dict]:
    """`edubot ask --json -` once for every question (one engine load)."""
    d, _ = populated
    lines = "".join(json.dumps({"question": q, "conv": key}, ensure_ascii=False) + "\n" for key, q in QUESTIONS.items())
    corpus, index = d
    res = CliRunner().invoke(cli, ["--corpus", str(corpus), "--index", str(index), "ask", "--no-build", "--json", "-"],
                             input=lines)
    assert res.exit_code == 0, res.output
    out = [json.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]
    return {o["conv"]: o for o in out}


def _error_lines(res: Result) -> list[str]:
    return [ln for ln in res.stderr.splitlines() if ln.strip()]


# -- adding and asking ------------------------------------------------------------------


def test_add_reports_each_document_and_new_embeddings(populated: tuple, site: str) -> None:
    _, res = populated
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    first = re.match(r"added     added/春田市教師退休計劃年度費用披露\.zh-Hant\.md  \(zh-Hant, (\d+) chunks?\)  ← (\S+)",
                     lines[0])
    second = re.match(r"added     added/lakeside-nurses-403-b-plan-summary-of-fees\.en\.md  \(en, (\d+) chunks?\)",
                      lines[1])
    assert first and second and first.group(2) == site + ZH_PAGE
    new_chunks = int(first.group(1)) + int(second.group(1))
    assert lines[-1].startswith(f"index updated: {new_chunks} chunks newly embedded")  # only the new text


def test_added_front_matter(populated: tuple, site: str) -> None:
    (corpus, _), _ = populated
    text = (corpus / "added" / "春田市教師退休計劃年度費用披露.zh-Hant.md").read_text(encoding="utf-8")
    front = text.split("---\n")[1]
    assert "title: 春田市教師退休計劃年度費用披露\n" in front and "language: zh-Hant\n" in front
    assert f"url: {site}{ZH_PAGE}\n" in front and "kind: document\n" in front
    assert "retrieved: '" in front and "content_hash: " in front
    assert "\n## 總費用率\n" in text


@pytest.mark.parametrize("lang", ["zh-Hant", "zh-Hans"])
def test_ask_cites_the_added_page_in_the_askers_script(answers: dict[str, dict], lang: str) -> None:
    out = answers[lang]
    doc_id = "added/春田市教師退休計劃年度費用披露.zh-Hant.md"
    assert out["no_answer"] is False and out["lang"] == lang
    assert doc_id in [p["doc_id"] for p in out["passages"]]
    assert doc_id in [s["doc_id"] for s in out["sources"]] and "[1]" in out["answer"]
    assert detect(out["answer"]).lang == lang
    if lang == "zh-Hans":
        assert script_marks(out["answer"])[0] == 0  # fully converted from the Traditional source


def test_ask_cites_the_added_pdf_with_its_page_section(answers: dict[str, dict]) -> None:
    out = answers["pdf"]
    doc_id = "added/lakeside-nurses-403-b-plan-summary-of-fees.en.md"
    assert out["no_answer"] is False and out["lang"] == "en"
    assert doc_id in [s["doc_id"] for s in out["sources"]]
    hit = next(p for p in out["passages"] if p["doc_id"] == doc_id and "75 dollars" in p["text"])
    assert hit["section"] == "Page 1"  # PDF pages are the sections


def test_off_topic_question_is_still_refused(answers: dict[str, dict]) -> None:
    assert answers["off-topic"]["no_answer"] is True


def test_list_shows_added_documents_with_chunk_counts(populated: tuple) -> None:
    d, _ = populated
    res = run(d, "list", "--added")
    assert res.exit_code == 0, res.output
    rows = res.stdout.splitlines()
    assert rows[0].split() == ["DOC", "LANG", "DATE", "CHUNKS", "TITLE"]
    assert any(re.match(r"added/lakeside-nurses\S+ +en +\d{4}-\d\d-\d\d +\d+  Lakeside", r) for r in rows)
    assert rows[-1] == "2 documents; index: up to date"
    data = json.loads(run(d, "list", "--json").stdout)
    assert data["index_up_to_date"] is True and len(data["documents"]) == len(load_corpus(d[0]).documents)
    assert {x["doc_id"]: x["chunks"] for x in data["documents"]}["explainers/eo-14330.en.md"] > 0


# -- updates, removal ---------------------------------------------------------------------


def test_readding_is_unchanged_and_does_not_rebuild(dirs: tuple[Path, Path], site: str) -> None:
    assert run(dirs, "add", site + "/fees-en.html").exit_code == 0
    current = (dirs[1] / "CURRENT").read_text()
    res = run(dirs, "add", site + "/fees-en.html")
    assert res.exit_code == 0
    assert res.stdout.startswith("unchanged added/riverside-firefighters-pension-fee-schedule.en.md")
    assert "index updated" not in res.stdout and (dirs[1] / "CURRENT").read_text() == current


def test_local_files_folder_and_update_in_place(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    src = tmp_path / "docs"
    (src / "more").mkdir(parents=True)
    (src / "vesting.md").write_text("# Maple vesting\n\nMaple County vests employer money over 4 years.\n", "utf-8")
    (src / "more" / "loans.txt").write_text("Maple loans\nOne loan at a time, up to 50% of the vested balance.\n",
                                            "utf-8")
    (src / "more" / "page.html").write_text(helpers.FEES_HTML_EN, "utf-8")
    res = run(dirs, "add", "--json", str(src))
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [r["status"] for r in data["results"]] == ["added"] * 3 and data["index"]["embedded"] > 0
    (src / "vesting.md").write_text("# Maple vesting\n\nFrom 2026 Maple County vests over 3 years.\n", "utf-8")
    res = run(dirs, "add", str(src / "vesting.md"))
    # a single file is recorded by its name, a folder's files relative to the folder: same key here
    assert res.exit_code == 0 and res.stdout.startswith("updated   added/maple-vesting.en.md"), res.output
    assert len(list((dirs[0] / "added").glob("maple-vesting*"))) == 1


def test_remove_by_url_and_unknown_document(dirs: tuple[Path, Path], site: str) -> None:
    assert run(dirs, "add", site + "/fees-en.html").exit_code == 0
    res = run(dirs, "remove", site + "/fees-en.html")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("removed   added/riverside-firefighters-pension-fee-schedule.en.md")
    assert "index updated" in res.stdout
    assert not (dirs[0] / "added" / "riverside-firefighters-pension-fee-schedule.en.md").exists()
    res = run(dirs, "remove", "added/no-such-doc.md")
    assert res.exit_code == 5 and _error_lines(res) == [
        "error: added/no-such-doc.md: no document 'added/no-such-doc.md' in the corpus (see `edubot list`)"]


def test_no_build_then_list_says_not_indexed(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    f = tmp_path / "elm.md"
    f.write_text("# Elm plan\n\nThe Elm plan charges no fees.\n", "utf-8")
    res = run(dirs, "add", "--no-build", str(f))
    assert res.exit_code == 0 and "run `edubot build`" in res.stderr
    listing = run(dirs, "list", "--added").stdout
    assert "not indexed" in listing and "run `edubot build`" in listing


# -- failures: one line each, documented exit codes, nothing half-written ------------------


@pytest.mark.parametrize("path, options, code, message", [
    ("/missing", [], 4, "HTTP 404 Not Found"),
    ("/slow", ["--timeout", "0.3"], 4, "timed out after 0.3 s (see --timeout)"),
    ("/big", ["--max-size", "10KB"], 4, "too large:"),
    ("/to-ftp", [], 4, "redirect to ftp://127.0.0.1/secret.txt refused"),
    ("/to-file", [], 4, "redirect to file:///etc/passwd refused"),
    ("/scanned.pdf", [], 5, "no extractable text (scanned PDF?)"),
    ("/image.png", [], 5, "unsupported content type 'image/png'"),
])
def test_url_failures(dirs: tuple[Path, Path], site: str, path: str, options: list[str], code: int,
                      message: str) -> None:
    corpus_before = helpers.tree(dirs[0])
    index_before = helpers.tree(dirs[1])
    res = run(dirs, "add", *options, site + path)
    assert res.exit_code == code, res.output
    lines = _error_lines(res)
    assert len(lines) == 1 and lines[0].startswith(f"error: {site}{path}: {message}")
    assert res.stdout == ""
    assert helpers.tree(dirs[0]) == corpus_before and helpers.tree(dirs[1]) == index_before


def test_unreachable_and_unsupported_inputs(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    res = run(dirs, "add", "--timeout", "5", f"http://127.0.0.1:{helpers.closed_port()}/page.html")
    assert res.exit_code == 4 and "cannot reach 127.0.0.1:" in res.stderr
    res = run(dirs, "add", "ftp://example.org/report.pdf")
    assert res.exit_code == 5 and "only http and https" in res.stderr
    deck = tmp_path / "deck.pptx"
    deck.write_bytes(b"PK")
    res = run(dirs, "add", str(deck))
    assert res.exit_code == 5 and "unsupported file type '.pptx'" in res.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", "utf-8")
    res = run(dirs, "add", str(empty))
    assert res.exit_code == 5 and "no text to add" in res.stderr
    assert not (dirs[0] / "added").exists()


def test_several_sources_one_failure(dirs: tuple[Path, Path], site: str) -> None:
    res = run(dirs, "add", site + "/missing", site + "/moved")
    assert res.exit_code == 4
    assert _error_lines(res)[0] == f"error: {site}/missing: HTTP 404 Not Found"
    assert res.stdout.startswith("added     added/riverside-firefighters-pension-fee-schedule.en.md")
    assert "index updated" in res.stdout
    text = (dirs[0] / "added" / "riverside-firefighters-pension-fee-schedule.en.md").read_text("utf-8")
    assert f"url: {site}/moved\n" in text  # the address given, which re-adding matches


def test_bad_options_are_usage_errors(dirs: tuple[Path, Path], site: str) -> None:
    assert run(dirs, "add", "--max-size", "lots", site + PDF).exit_code == 2
    assert run(dirs, "add", "--timeout", "0", site + PDF).exit_code == 2
    res = run(dirs, "add", "--into", "../escape", site + PDF)
    assert res.exit_code == 5 and "inside the corpus folder" in res.stderr


def test_help_documents_exit_codes() -> None:
    res = CliRunner().invoke(cli, ["add", "--help"])
    assert res.exit_code == 0
    for line in ("3  corpus, index or configuration problem", "4  download failed", "5  unusable input"):
        assert line in res.stdout
    assert "Exit codes" in CliRunner().invoke(cli, ["remove", "--help"]).stdout
    assert "not indexed" in CliRunner().invoke(cli, ["list", "--help"]).stdout


def test_missing_corpus_is_a_data_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["--corpus", str(tmp_path / "none"), "--index", str(tmp_path / "ix"), "list"])
    assert res.exit_code == 3 and res.stderr.startswith("error: ") and len(_error_lines(res)) == 1

