"""Document ingestion core (bot.ingest): extraction, fetching under limits, writing, rollback.

Everything is offline: web pages come from a local http.server started by the tests,
PDFs are written by hand below. The helpers at the top (make_pdf, serve, pages) are
also used by tests/test_ingest_cli.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot import ingest
from bot.config import Settings
from bot.corpus import load_corpus, parse_document
from bot.ingest import (EXIT_DATA, EXIT_INPUT, EXIT_NETWORK, FetchOptions, IngestError, Source, extract,
                        extract_pdf, fetch_url, normalise_headings, reflow, render_document, slugify)
from bot.script import script_marks

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"

# --------------------------------------------------------------------------------------
# Helpers shared with test_ingest_cli.py
# --------------------------------------------------------------------------------------


def make_pdf(pages: list[list[str]], outline: list[tuple[str, int]] | None = None, title: str | None = None) -> bytes:
    """A small valid PDF: one text line per entry in Helvetica (WinAnsi); an empty page
    list draws a filled rectangle instead (a "scanned" page: no text). ``outline`` is
    [(bookmark title, page index)]."""
    objs: dict[int, bytes] = {}
    n = len(pages)
    font, first_page = 3, 4
    page_ids = [first_page + 2 * i for i in range(n)]
    next_id = first_page + 2 * n
    objs[font] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    for i, lines in enumerate(pages):
        if lines:
            ops = ["BT /F1 12 Tf 72 720 Td 14 TL"]
            for ln in lines:
                esc = ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
                ops.append(f"({esc}) Tj T*")
            ops.append("ET")
            stream = "\n".join(ops).encode("latin-1")
        else:
            stream = b"0.5 0.5 0.5 rg 72 72 400 600 re f"
        objs[page_ids[i]] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                             f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {page_ids[i] + 1} 0 R >>").encode()
        objs[page_ids[i] + 1] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    catalog_extra = ""
    if outline:
        root_id = next_id
        item_ids = [root_id + 1 + k for k in range(len(outline))]
        objs[root_id] = f"<< /Type /Outlines /First {item_ids[0]} 0 R /Last {item_ids[-1]} 0 R /Count {len(outline)} >>".encode()
        for k, (text, page) in enumerate(outline):
            links = ""
            if k > 0:
                links += f" /Prev {item_ids[k - 1]} 0 R"
            if k < len(outline) - 1:
                links += f" /Next {item_ids[k + 1]} 0 R"
            objs[item_ids[k]] = (f"<< /Title ({text}) /Parent {root_id} 0 R{links} "
                                 f"/Dest [{page_ids[page]} 0 R /XYZ 0 792 0] >>").encode()
        catalog_extra = f" /Outlines {root_id} 0 R /PageMode /UseOutlines"
        next_id = item_ids[-1] + 1
    info_id = None
    if title:
        info_id = next_id
        objs[info_id] = f"<< /Title ({title}) >>".encode()
    objs[1] = f"<< /Type /Catalog /Pages 2 0 R{catalog_extra} >>".encode()
    objs[2] = ("<< /Type /Pages /Kids [" + " ".join(f"{p} 0 R" for p in page_ids) + f"] /Count {n} >>").encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    size = max(objs) + 1
    offsets = {}
    for i in range(1, size):
        offsets[i] = out.tell()
        out.write(b"%d 0 obj\n" % i + objs[i] + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    for i in range(1, size):
        out.write(b"%010d 00000 n \n" % offsets[i])
    info = f" /Info {info_id} 0 R" if info_id else ""
    out.write(f"trailer\n<< /Size {size} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


FEES_HTML_ZH = """<!doctype html>
<html lang="zh-Hant"><head><meta charset="utf-8"><title>春田市教師退休計劃年度費用披露 | 春田市教育局</title>
<meta property="article:published_time" content="2025-06-30"></head>
<body>
<nav><a href="/">首頁</a> | <a href="/en/">English</a> | <a href="/contact">聯絡我們</a></nav>
<main><article>
<h1>春田市教師退休計劃年度費用披露</h1>
<p>春田市教師退休計劃每年公布費用披露文件,說明參與者帳戶須負擔的各項費用。根據2025年度的費用披露,計劃向每位參與者收取的年度行政費用為新台幣1,284元,從參與者帳戶中直接扣除。</p>
<h2>總費用率</h2>
<p>春田市教師退休計劃2025年度的總費用率為0.37%,其中投資管理費佔0.21%,紀錄保存費佔0.16%。總費用率越高,長期下來對退休儲蓄的侵蝕就越大。</p>
<h2>如何查閱完整披露文件</h2>
<p>參與者可以向計劃管理人索取完整的年度費用披露文件,也可以在每季帳戶結單中查看實際扣除的費用金額。</p>
</article></main>
<footer>© 2025 春田市教育局 版權所有</footer>
</body></html>"""

FEES_HTML_EN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Riverside Firefighters' Pension: fee schedule</title></head>
<body><nav><a href="/">Home</a> <a href="/zh/">中文</a></nav>
<article><h1>Riverside Firefighters' Pension fee schedule</h1>
<p>The Riverside Firefighters' Pension charges an annual recordkeeping fee of 41 dollars per member. The fee is deducted from each member account every January.</p>
<h2>Investment fees</h2>
<p>Investment management fees for the pension's target-date funds range from 0.08% to 0.52% a year, depending on the fund chosen by the member.</p>
<h3>Where to find the figures</h3>
<p>Members can find the fee schedule in the annual participant fee disclosure sent by the plan administrator.</p>
</article><footer>Copyright 2024 Riverside</footer></body></html>"""

PDF_LINES = [
    ["Lakeside Nurses' 403(b) Plan: summary of fees",
     "The Lakeside Nurses' 403(b) Plan charges a loan origination fee of 75 dollars",
     "for each new participant loan. Loans are repaid through payroll deduction."],
    ["Hardship withdrawals",
     "The plan administrator charges a processing fee of 30 dollars for each hardship",
     "withdrawal request. Hardship withdrawals may be subject to income tax."],
]


Route = Callable[[BaseHTTPRequestHandler], None]


def body(content: bytes | str, ctype: str = "text/html; charset=utf-8", status: int = 200,
         length: bool = True) -> Route:
    data = content.encode("utf-8") if isinstance(content, str) else content

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        if length:
            h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return route


def redirect(location: str, status: int = 302) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def slow(delay: float, then: Route) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        then(h)

    return route


def trickle(total_seconds: float, pieces: int = 40) -> Route:
    """Sends a byte at a time: each read is quick, the whole download is slow."""
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/plain; charset=utf-8")
        h.end_headers()
        for _ in range(pieces):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(total_seconds / pieces)

    return route


def pages() -> dict[str, Route]:
    """The local web site every network test uses."""
    big = ("<html><body><article>" + "<p>Fees matter over decades of saving. </p>" * 3000 + "</article></body></html>")
    return {
        "/fees-zh.html": body(FEES_HTML_ZH),
        "/fees-en.html": body(FEES_HTML_EN),
        "/plan.pdf": body(make_pdf(PDF_LINES), "application/pdf"),
        "/scanned.pdf": body(make_pdf([[], []]), "application/pdf"),
        "/notes.txt": body("Short note\nThe Westfield Library Plan has no annual fee for members.\n", "text/plain"),
        "/image.png": body(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"),
        "/moved": redirect("/fees-en.html", 301),
        "/moved-twice": redirect("/moved", 302),
        "/to-ftp": redirect("ftp://127.0.0.1/secret.txt"),
        "/to-file": redirect("file:///etc/passwd"),
        "/loop": redirect("/loop"),
        "/error": body("boom", "text/plain", status=500),
        "/slow": slow(3.0, body(FEES_HTML_EN)),
        "/trickle": trickle(3.0),
        "/big": body(big),
        "/big-unsized": body(big, length=False),
    }


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        route = self.server.routes.get(self.path.split("?")[0])  # type: ignore[attr-defined]
        try:
            if route is None:
                self.send_error(404, "Not Found")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(routes: dict[str, Route]) -> Iterator[str]:
    """Serve ``routes`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.routes = routes  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def no_proxy(mp: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        mp.delenv(var, raising=False)
    mp.setenv("NO_PROXY", "127.0.0.1,localhost")


def base_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the bundled corpus with a built index, built once per test session."""
    from bot.cli import cli
    from click.testing import CliRunner

    base = tmp_path_factory.getbasetemp() / "ingest-base"
    if not (base / "ready").exists():
        shutil.rmtree(base, ignore_errors=True)
        shutil.copytree(CORPUS, base / "corpus")
        res = CliRunner().invoke(cli, ["--corpus", str(base / "corpus"), "--index", str(base / "index"), "build"])
        assert res.exit_code == 0, res.output
        (base / "ready").write_text("ok")
    return base


def fresh_copy(base: Path, dest: Path) -> tuple[Path, Path]:
    shutil.copytree(base / "corpus", dest / "corpus")
    shutil.copytree(base / "index", dest / "index")
    return dest / "corpus", dest / "index"


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (dot files included) with its bytes; the empty lock files
    that writers hold (bot.locks) are not content."""
    from bot.locks import BUILD_LOCK, CORPUS_LOCK

    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not (p.name in (BUILD_LOCK, CORPUS_LOCK) and p.stat().st_size == 0)}


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _direct_connections() -> Iterator[None]:
    """Requests to 127.0.0.1 must not go through a proxy configured in the environment."""
    with pytest.MonkeyPatch.context() as mp:
        no_proxy(mp)
        yield


@pytest.fixture(scope="module")
def site(_direct_connections: None) -> Iterator[str]:
    with serve(pages()) as url:
        yield url


@pytest.fixture()
def corpus_only(tmp_path: Path) -> Settings:
    """A copy of the corpus and an (unbuilt) index folder, for tests that do not build."""
    shutil.copytree(CORPUS, tmp_path / "corpus")
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")


@pytest.fixture()
def built(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    corpus, index = fresh_copy(base_index(tmp_path_factory), tmp_path)
    return Settings(corpus_dir=corpus, index_dir=index)


# --------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("title, expected", [
    ("Springfield Teachers' Retirement Plan: 2025 fees", "springfield-teachers-retirement-plan-2025-fees"),
    ("春田市教師退休計劃 年度費用", "春田市教師退休計劃-年度費用"),
    ("../../etc/passwd", "etc-passwd"),
    (".hidden file", "hidden-file"),
    ("???", "document"),
    ("", "document"),
    ("Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ", "fullwidth-abc"),
])
def test_slugify(title: str, expected: str) -> None:
    assert slugify(title) == expected


def test_slugify_is_short_and_safe() -> None:
    slug = slugify("a very long title " * 20 + "/" + "..")
    assert len(slug) <= 80 and not slug.startswith((".", "-")) and not slug.endswith("-")
    assert "/" not in slug and "\\" not in slug and ".." not in slug


def test_detect_lang_for_documents() -> None:
    english = "The plan charges an annual fee of 41 dollars per member. " * 20 + "中文"
    assert ingest.detect_lang(english) == "en"
    assert ingest.detect_lang(FEES_HTML_ZH) == "zh-Hant"
    assert ingest.detect_lang("春田市教师退休计划每年向参与者收取行政费用,这项费用在年度费用披露文件中列明。") == "zh-Hans"


def test_normalise_headings_shifts_to_h2_and_drops_repeated_title() -> None:
    md = "# Plan fees\n\nIntro.\n\n# Loans\n\nText.\n\n## Details\n\nMore.\n\n```\n# not a heading\n```"
    out = normalise_headings(md, "Plan fees")
    assert out.startswith("# Plan fees\n\nIntro.")
    assert "\n## Loans\n" in out and "\n### Details\n" in out and "\n# not a heading\n" in out
    assert out.count("# Plan fees") == 1


def test_reflow_joins_wrapped_lines_but_keeps_sentences() -> None:
    text = ("Plan fees\n"
            "The plan charges a fee of 75 dollars for each new\n"
            "loan taken out by a member. Loans are repaid every\n"
            "month through payroll deduction by the employer.\n"
            "- a bullet that wraps onto the next line of the\n"
            "page and ends here.\n"
            "春田市教師退休計劃的參與者可以隨時索取年度費用披露文\n"
            "件,了解各項費用。\n")
    assert reflow(text).split("\n") == [
        "Plan fees",
        "The plan charges a fee of 75 dollars for each new loan taken out by a member. Loans are repaid every "
        "month through payroll deduction by the employer.",
        "- a bullet that wraps onto the next line of the page and ends here.",
        "春田市教師退休計劃的參與者可以隨時索取年度費用披露文件,了解各項費用。",
    ]


def test_rendered_document_parses_and_hash_covers_the_body() -> None:
    ex = ingest.Extracted("Plan: fees \"2025\"", "en", "# Plan: fees \"2025\"\n\nText here.\n", "html", "2025-06-30")
    src = Source("url", "https://example.org/fees", "https://example.org/fees")
    text = render_document(ex, src, "2026-01-02")
    doc = parse_document(Path("added/x.en.md"), "added/x.en.md", raw=text.encode("utf-8"))
    assert doc.title == ex.title and doc.lang == "en" and doc.kind == "document"
    assert doc.url == "https://example.org/fees" and doc.date == "2025-06-30"
    assert doc.meta["retrieved"] == "2026-01-02"
    assert doc.meta["content_hash"] == hashlib.sha256(doc.body.encode("utf-8")).hexdigest()
    assert "source_file" not in doc.meta


@pytest.mark.parametrize("into", ["../outside", "/abs", ".hidden", "_private", "a/../../b"])
def test_into_must_stay_inside_the_corpus(into: str) -> None:
    with pytest.raises(IngestError) as err:
        ingest.check_into(into)
    assert err.value.code == EXIT_INPUT


# --------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------


def test_html_main_text_with_sections() -> None:
    src = Source("file", "fees.html", "fees.html")
    ex = extract(ingest.Fetched(FEES_HTML_ZH.encode(), "html"), src)
    assert ex.title == "春田市教師退休計劃年度費用披露"
    assert ex.lang == "zh-Hant" and ex.date == "2025-06-30"
    assert ex.body.startswith("# 春田市教師退休計劃年度費用披露\n")
    assert "\n## 總費用率\n" in ex.body and "新台幣1,284元" in ex.body
    assert "聯絡我們" not in ex.body and "版權所有" not in ex.body  # navigation and footer dropped


def test_pdf_text_with_page_sections() -> None:
    title, body, lang = extract_pdf(make_pdf(PDF_LINES))
    assert lang == "en" and title == "Lakeside Nurses' 403(b) Plan: summary of fees"
    assert "## Page 1" in body and "## Page 2" in body
    assert "loan origination fee of 75 dollars for each new participant loan." in body  # lines reflowed


def test_pdf_sections_from_outline_and_title_from_metadata() -> None:
    pdf = make_pdf(PDF_LINES, outline=[("Loans", 0), ("Hardship withdrawals", 1)], title="Lakeside fee summary")
    title, body, _ = extract_pdf(pdf)
    assert title == "Lakeside fee summary"
    assert "## Loans" in body and "## Hardship withdrawals" in body and "## Page" not in body


def test_scanned_pdf_is_reported_not_added() -> None:
    with pytest.raises(IngestError) as err:
        extract_pdf(make_pdf([[], []]))
    assert err.value.code == EXIT_INPUT and err.value.message == "no extractable text (scanned PDF?)"


def test_broken_pdf_is_an_input_error() -> None:
    with pytest.raises(IngestError) as err:
        extract_pdf(b"%PDF-1.4\nthis is not really a pdf")
    assert err.value.code == EXIT_INPUT and "PDF" in err.value.message


def test_markdown_front_matter_is_kept() -> None:
    md = ("---\ntitle: Plan glossary\nlanguage: en\nlicence: CC BY 4.0\ndate: 2025-01-31\n---\n"
          "Some text about vesting schedules.\n")
    ex = extract(ingest.Fetched(md.encode(), "markdown"), Source("file", "g.md", "g.md"))
    assert ex.title == "Plan glossary" and ex.lang == "en" and ex.date == "2025-01-31"
    assert ex.extra["licence"] == "CC BY 4.0"
    assert ex.body == "# Plan glossary\n\nSome text about vesting schedules.\n"


def test_empty_text_file_is_refused() -> None:
    with pytest.raises(IngestError) as err:
        extract(ingest.Fetched(b"  \n\n", "text"), Source("file", "e.txt", "e.txt"))
    assert err.value.code == EXIT_INPUT and "no text" in err.value.message


# --------------------------------------------------------------------------------------
# Fetching under limits
# --------------------------------------------------------------------------------------


def test_fetch_html_and_pdf(site: str) -> None:
    page = fetch_url(f"{site}/fees-en.html")
    assert page.format == "html" and b"Riverside" in page.data and page.charset == "utf-8"
    pdf = fetch_url(f"{site}/plan.pdf")
    assert pdf.format == "pdf" and pdf.data.startswith(b"%PDF-")


def test_fetch_follows_http_redirects(site: str) -> None:
    got = fetch_url(f"{site}/moved-twice")
    assert got.final_url == f"{site}/fees-en.html" and b"Riverside" in got.data


@pytest.mark.parametrize("path, message", [
    ("/to-ftp", "redirect to ftp://127.0.0.1/secret.txt refused"),
    ("/to-file", "redirect to file:///etc/passwd refused"),
    ("/loop", "too many redirects (more than 5)"),
    ("/missing", "HTTP 404 Not Found"),
    ("/error", "HTTP 500 Internal Server Error"),
])
def test_fetch_refusals_and_http_errors(site: str, path: str, message: str) -> None:
    with pytest.raises(IngestError) as err:
        fetch_url(site + path)
    assert err.value.code == EXIT_NETWORK
    assert err.value.message.startswith(message)


@pytest.mark.parametrize("path", ["/slow", "/trickle"])
def test_fetch_timeout_covers_slow_headers_and_slow_bodies(site: str, path: str) -> None:
    with pytest.raises(IngestError) as err:
        fetch_url(site + path, FetchOptions(timeout=0.4))
    assert err.value.code == EXIT_NETWORK and err.value.message.startswith("timed out after 0.4 s")


@pytest.mark.parametrize("path", ["/big", "/big-unsized"])
def test_fetch_size_limit_with_and_without_content_length(site: str, path: str) -> None:
    with pytest.raises(IngestError) as err:
        fetch_url(site + path, FetchOptions(max_bytes=10_000))
    assert err.value.code == EXIT_NETWORK and err.value.message.startswith("too large")


def test_fetch_unreachable_host() -> None:
    with pytest.raises(IngestError) as err:
        fetch_url(f"http://127.0.0.1:{closed_port()}/x", FetchOptions(timeout=5))
    assert err.value.code == EXIT_NETWORK and err.value.message.startswith("cannot reach 127.0.0.1:")


def test_fetch_unsupported_content_type(site: str) -> None:
    with pytest.raises(IngestError) as err:
        fetch_url(f"{site}/image.png")
    assert err.value.code == EXIT_INPUT and "image/png" in err.value.message


def test_only_http_and_https_urls() -> None:
    with pytest.raises(IngestError) as err:
        fetch_url("ftp://127.0.0.1/file.txt")
    assert err.value.code == EXIT_INPUT


# --------------------------------------------------------------------------------------
# Adding, updating, removing (without building: fast)
# --------------------------------------------------------------------------------------


def _fixture_files(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "md": root / "vesting.md",
        "txt": root / "loans.txt",
        "html": root / "riverside.html",
        "pdf": root / "lakeside.pdf",
    }
    files["md"].write_text("# Vesting at Maple County\n\nMaple County's plan vests employer contributions "
                           "over 4 years, 25% a year.\n", encoding="utf-8")
    files["txt"].write_text("Loans at Maple County\nThe Maple County plan allows one loan at a time, "
                            "up to 50% of the vested balance.\n", encoding="utf-8")
    files["html"].write_text(FEES_HTML_EN, encoding="utf-8")
    files["pdf"].write_bytes(make_pdf(PDF_LINES))
    return files


def test_add_local_files_writes_one_document_each(corpus_only: Settings, tmp_path: Path) -> None:
    files = _fixture_files(tmp_path / "src")
    report = ingest.add(corpus_only, [str(p) for p in files.values()], build=False)
    assert report.exit_code == 0 and [o.status for o in report.outcomes] == ["added"] * 4
    corpus = load_corpus(corpus_only.corpus_dir)
    docs = {d.meta.get("source_file"): d for d in corpus.documents if d.doc_id.startswith("added/")}
    assert set(docs) == {"vesting.md", "loans.txt", "riverside.html", "lakeside.pdf"}
    assert docs["vesting.md"].title == "Vesting at Maple County"
    assert docs["loans.txt"].title == "Loans at Maple County"
    assert docs["riverside.html"].doc_id == "added/riverside-firefighters-pension-fee-schedule.en.md"
    for d in docs.values():
        assert d.kind == "document" and d.lang == "en" and d.meta["retrieved"]
        assert d.meta["content_hash"] == hashlib.sha256(d.body.encode()).hexdigest()
    assert "not updated" in " ".join(report.notes)
    assert not [p for p in (corpus_only.corpus_dir / "added").iterdir() if p.name.startswith(".")]  # no temp files


def test_add_folder_records_relative_names_and_skips_other_files(corpus_only: Settings, tmp_path: Path) -> None:
    _fixture_files(tmp_path / "src" / "sub")
    (tmp_path / "src" / "top.md").write_text("# Top\n\nThe Top plan has a 2% match.\n", encoding="utf-8")
    (tmp_path / "src" / "photo.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "src" / ".secret.md").write_text("# hidden\n\nnot added\n", encoding="utf-8")
    report = ingest.add(corpus_only, [str(tmp_path / "src")], build=False)
    assert report.exit_code == 0
    assert sorted(o.source.split("src/")[1] for o in report.outcomes) == [
        "sub/lakeside.pdf", "sub/loans.txt", "sub/riverside.html", "sub/vesting.md", "top.md"]
    recorded = {d.meta.get("source_file") for d in load_corpus(corpus_only.corpus_dir).documents}
    assert {"sub/vesting.md", "top.md"} <= recorded and ".secret.md" not in recorded
    assert any("skipped 1 file" in n for n in report.notes)


def test_readding_updates_in_place_and_detects_unchanged(corpus_only: Settings, tmp_path: Path) -> None:
    src = tmp_path / "plan.md"
    src.write_text("# Cedar plan\n\nThe Cedar plan match is 3%.\n", encoding="utf-8")
    first = ingest.add(corpus_only, [str(src)], build=False).outcomes[0]
    assert first.status == "added"
    before = tree(corpus_only.corpus_dir)
    again = ingest.add(corpus_only, [str(src)], build=False)
    assert again.outcomes[0].status == "unchanged" and again.outcomes[0].doc_id == first.doc_id
    assert tree(corpus_only.corpus_dir) == before
    src.write_text("# Cedar plan (revised)\n\nThe Cedar plan match is 4% from 2026.\n", encoding="utf-8")
    updated = ingest.add(corpus_only, [str(src)], build=False).outcomes[0]
    assert updated.status == "updated" and updated.doc_id == first.doc_id  # same file, new title
    doc = load_corpus(corpus_only.corpus_dir).by_id()[first.doc_id]
    assert "4% from 2026" in doc.body and doc.title == "Cedar plan (revised)"
    assert len([d for d in load_corpus(corpus_only.corpus_dir).documents if d.meta.get("source_file") == "plan.md"]) == 1


def test_same_url_readded_updates_in_place(corpus_only: Settings, site: str) -> None:
    a = ingest.add(corpus_only, [f"{site}/fees-en.html"], build=False).outcomes[0]
    b = ingest.add(corpus_only, [f"{site}/fees-en.html#section"], build=False).outcomes[0]
    assert a.status == "added" and b.status == "unchanged" and a.doc_id == b.doc_id
    doc = load_corpus(corpus_only.corpus_dir).by_id()[a.doc_id]
    assert doc.url == f"{site}/fees-en.html" and doc.meta["format"] == "html"


def test_failures_are_reported_per_source_and_others_still_added(corpus_only: Settings, tmp_path: Path,
                                                                site: str) -> None:
    ok = tmp_path / "ok.md"
    ok.write_text("# Birch plan\n\nThe Birch plan has no loans.\n", encoding="utf-8")
    bad_type = tmp_path / "deck.docx"
    bad_type.write_bytes(b"PK")
    inside = corpus_only.corpus_dir / "explainers" / "eo-14330.en.md"
    report = ingest.add(corpus_only, [f"{site}/missing", str(ok), str(bad_type), str(tmp_path / "nope.md"),
                                      "ftp://example.org/x.pdf", f"{site}/scanned.pdf", str(inside)], build=False)
    by_source = {o.source.rsplit("/", 1)[-1]: o for o in report.outcomes}
    assert by_source["missing"].code == EXIT_NETWORK
    assert by_source["ok.md"].status == "added"
    assert by_source["deck.docx"].code == EXIT_INPUT and "unsupported file type" in by_source["deck.docx"].error
    assert by_source["nope.md"].code == EXIT_INPUT
    assert by_source["x.pdf"].code == EXIT_INPUT and "only http and https" in by_source["x.pdf"].error
    assert by_source["scanned.pdf"].error == "no extractable text (scanned PDF?)"
    assert "inside the corpus folder" in by_source["eo-14330.en.md"].error
    assert report.exit_code == EXIT_NETWORK  # the first failure's code


def test_two_sources_with_the_same_name_in_one_run(corpus_only: Settings, tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "README.md").write_text(f"# {d}\n\nPlan {d} text.\n", encoding="utf-8")
    report = ingest.add(corpus_only, [str(tmp_path / "a" / "README.md"), str(tmp_path / "b" / "README.md")],
                        build=False)
    assert [o.status for o in report.outcomes] == ["added", "failed"]
    assert "add it separately" in report.outcomes[1].error


def test_title_collision_gets_a_new_file(corpus_only: Settings, tmp_path: Path) -> None:
    for d in ("x", "y"):
        (tmp_path / f"{d}.md").write_text("# Same title\n\nText " + d + " about plan fees.\n", encoding="utf-8")
    report = ingest.add(corpus_only, [str(tmp_path / "x.md"), str(tmp_path / "y.md")], build=False)
    assert [o.doc_id for o in report.outcomes] == ["added/same-title.en.md", "added/same-title-2.en.md"]


def test_malformed_corpus_is_a_data_error_and_nothing_is_written(corpus_only: Settings, tmp_path: Path) -> None:
    (corpus_only.corpus_dir / "broken.md").write_text("---\ntitle: [unclosed\n---\ntext\n", encoding="utf-8")
    before = tree(corpus_only.corpus_dir)
    src = tmp_path / "a.md"
    src.write_text("# A\n\ntext\n", encoding="utf-8")
    with pytest.raises(IngestError) as err:
        ingest.add(corpus_only, [str(src)], build=False)
    assert err.value.code == EXIT_DATA and "broken.md" in err.value.message
    assert tree(corpus_only.corpus_dir) == before


def test_resolve_document_by_id_path_url_and_file_name(corpus_only: Settings, tmp_path: Path, site: str) -> None:
    src = tmp_path / "oak.md"
    src.write_text("# Oak plan\n\nThe Oak plan text.\n", encoding="utf-8")
    ingest.add(corpus_only, [str(src), f"{site}/fees-en.html"], build=False)
    corpus = load_corpus(corpus_only.corpus_dir)
    oak = ingest.resolve_document(corpus, "oak.md")
    assert oak.doc_id == "added/oak-plan.en.md"
    assert ingest.resolve_document(corpus, "added/oak-plan.en.md") == oak
    assert ingest.resolve_document(corpus, str(corpus_only.corpus_dir / "added" / "oak-plan.en.md")) == oak
    assert ingest.resolve_document(corpus, f"{site}/fees-en.html").meta["format"] == "html"
    with pytest.raises(IngestError) as err:
        ingest.resolve_document(corpus, "nothing-like-this.md")
    assert err.value.code == EXIT_INPUT


# --------------------------------------------------------------------------------------
# With the index: incremental build, rollback on failure
# --------------------------------------------------------------------------------------


def test_add_updates_the_index_incrementally(built: Settings, site: str) -> None:
    report = ingest.add(built, [f"{site}/fees-zh.html", f"{site}/plan.pdf"])
    assert report.exit_code == 0 and report.index is not None
    added = {o.doc_id: o for o in report.outcomes}
    assert all(o.chunks and o.chunks > 0 for o in added.values())
    # only the new documents' chunks were embedded
    assert report.index.embedded == sum(o.chunks for o in added.values())
    rows, stale = ingest.list_documents(built, added_only=True)
    assert stale == "" and {r.doc_id: r.chunks for r in rows} == {k: o.chunks for k, o in added.items()}


def test_list_marks_documents_not_indexed(built: Settings, tmp_path: Path) -> None:
    src = tmp_path / "elm.md"
    src.write_text("# Elm plan\n\nThe Elm plan text about fees.\n", encoding="utf-8")
    ingest.add(built, [str(src)], build=False)
    rows, stale = ingest.list_documents(built)
    by_id = {r.doc_id: r for r in rows}
    assert by_id["added/elm-plan.en.md"].chunks is None
    assert by_id["explainers/eo-14330.en.md"].chunks  # unchanged documents keep their counts
    assert stale.startswith("corpus changed")


def test_failed_index_build_restores_the_corpus(built: Settings, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "pine.md"
    src.write_text("# Pine plan\n\nThe Pine plan text.\n", encoding="utf-8")
    ingest.add(built, [str(src)], build=False)  # an earlier version, to be updated
    src.write_text("# Pine plan\n\nThe Pine plan text, revised.\n", encoding="utf-8")
    new = tmp_path / "new.md"
    new.write_text("# Brand new\n\nBrand new text.\n", encoding="utf-8")
    corpus_before = tree(built.corpus_dir)
    index_before = {k: v for k, v in tree(built.index_dir).items() if not k.startswith("embeddings.sqlite")}

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("bot.index.build_index", boom)
    with pytest.raises(IngestError) as err:
        ingest.add(built, [str(src), str(new)])
    assert err.value.code == EXIT_DATA and "disk full" in err.value.message
    assert tree(built.corpus_dir) == corpus_before  # updated file restored, new file removed
    after = {k: v for k, v in tree(built.index_dir).items() if not k.startswith("embeddings.sqlite")}
    assert after == index_before


def test_remove_rebuilds_and_restores_on_failure(built: Settings, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "ash.md"
    src.write_text("# Ash plan\n\nThe Ash plan has a 5% match.\n", encoding="utf-8")
    ingest.add(built, [str(src)])
    before = tree(built.corpus_dir)
    with monkeypatch.context() as mp:
        mp.setattr("bot.index.build_index", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no space")))
        with pytest.raises(IngestError):
            ingest.remove(built, ["ash.md"])
    assert tree(built.corpus_dir) == before
    report = ingest.remove(built, ["ash.md", "unknown.md"])
    assert [o.status for o in report.outcomes] == ["removed", "failed"] and report.exit_code == EXIT_INPUT
    assert not (built.corpus_dir / "added" / "ash-plan.en.md").exists()
    rows, stale = ingest.list_documents(built)
    assert stale == "" and "added/ash-plan.en.md" not in {r.doc_id for r in rows}


def test_no_temp_files_left_after_writes(corpus_only: Settings, tmp_path: Path) -> None:
    src = tmp_path / "w.md"
    src.write_text("# Willow\n\nWillow plan.\n", encoding="utf-8")
    ingest.add(corpus_only, [str(src)], build=False)
    leftovers = [p for p in corpus_only.corpus_dir.rglob(".*")]
    assert leftovers == []
    assert os.listdir(corpus_only.corpus_dir / "added") == ["willow.en.md"]


def test_simplified_source_keeps_its_script(corpus_only: Settings, tmp_path: Path) -> None:
    src = tmp_path / "jianti.txt"
    src.write_text("春田市教师退休计划简介\n春田市教师退休计划为参与者提供年度费用披露,说明各项费用。\n", encoding="utf-8")
    out = ingest.add(corpus_only, [str(src)], build=False).outcomes[0]
    doc = load_corpus(corpus_only.corpus_dir).by_id()[out.doc_id]
    assert doc.lang == "zh-Hans" and out.doc_id.endswith(".zh-Hans.md")
    trad, simp = script_marks(doc.body)
    assert simp > 0 and trad == 0  # stored as written, never converted


def test_html_charset_from_the_http_header() -> None:
    html = ("<html><head><title>退休計劃費用</title></head><body><article><h1>退休計劃費用</h1>"
            "<p>春田市教師退休計劃的年度行政費用為每位參與者新台幣一千二百八十四元,從帳戶中直接扣除。"
            "參與者可以向計劃管理人索取完整的年度費用披露文件。</p></article></body></html>")
    fetched = ingest.Fetched(html.encode("big5"), "html", "http://127.0.0.1/x", "big5")
    ex = extract(fetched, Source("url", "http://127.0.0.1/x", "http://127.0.0.1/x"))
    assert ex.lang == "zh-Hant" and "新台幣一千二百八十四元" in ex.body


def test_title_and_language_options_override_detection(corpus_only: Settings, tmp_path: Path) -> None:
    src = tmp_path / "n.txt"
    src.write_text("計劃費用說明\n本計劃的年度費用為零。\n", encoding="utf-8")
    out = ingest.add(corpus_only, [str(src)], title="Zero-fee plan", lang="zh-Hans", build=False).outcomes[0]
    assert out.doc_id == "added/zero-fee-plan.zh-Hans.md" and out.title == "Zero-fee plan"
    with pytest.raises(IngestError):
        ingest.add(corpus_only, [str(src), str(src)], title="Two sources", build=False)


def test_local_file_size_limit(corpus_only: Settings, tmp_path: Path) -> None:
    src = tmp_path / "huge.txt"
    src.write_text("fees " * 5000, encoding="utf-8")
    out = ingest.add(corpus_only, [str(src)], options=FetchOptions(max_bytes=1000), build=False).outcomes[0]
    assert out.status == "failed" and out.code == EXIT_INPUT and out.error.startswith("file is too large")


def test_markdown_title_is_not_taken_from_a_later_heading() -> None:
    md = "Some intro text about the Hazel plan.\n\n## Background\n\nMore text.\n"
    ex = extract(ingest.Fetched(md.encode(), "markdown"), Source("file", "hazel_plan.md", "hazel_plan.md"))
    assert ex.title == "hazel plan" and "\n## Background\n" in ex.body
