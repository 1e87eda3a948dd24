"""Fetching sources for ingestion: local files and http(s) downloads under limits.

A local ``.md``/``.txt``/``.html``/``.pdf`` file is read whole (up to a size limit);
an ``http(s)`` URL is downloaded with httpx under a size limit, a timeout and at most
five redirects, each checked to stay on http(s). Either way the result is a
:class:`Fetched`: the raw bytes and their :data:`Format`.

httpx is imported inside :func:`fetch_url`: importing this module costs nothing extra.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

from .ingest_errors import EXIT_INPUT, EXIT_NETWORK, IngestError, _reason

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 20.0
MAX_REDIRECTS = 5
USER_AGENT = "edubot-ingest/0.1 (+investor-education Q&A bot)"

Format = Literal["html", "pdf", "markdown", "text"]
FILE_FORMATS: dict[str, Format] = {
    ".md": "markdown", ".markdown": "markdown", ".txt": "text",
    ".html": "html", ".htm": "html", ".xhtml": "html", ".pdf": "pdf",
}
_CONTENT_TYPES: dict[str, Format] = {
    "text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf",
    "text/markdown": "markdown", "text/x-markdown": "markdown", "text/plain": "text",
}


@dataclass(frozen=True, slots=True)
class FetchOptions:
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT  # seconds, for the whole download including redirects
    max_redirects: int = MAX_REDIRECTS
    user_agent: str = USER_AGENT

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


@dataclass(frozen=True, slots=True)
class Source:
    """One thing to add. ``key`` is what the front matter records (URL or file name)."""

    kind: Literal["url", "file"]
    location: str  # the URL, or the file path
    key: str  # url, or source_file (file name, relative to the folder given)


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    format: Format
    final_url: str = ""
    charset: str | None = None



def _check_scheme(url: str, code: int) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise IngestError(f"unsupported URL scheme {scheme or '(none)'}: only http and https", code)
    return scheme


def normalise_url(url: str) -> str:
    """The URL as recorded and matched: scheme and host lower case, no fragment."""
    parts = urlsplit(url.strip())
    if not parts.hostname:
        raise IngestError(f"{url!r} is not a valid URL", EXIT_INPUT)
    netloc = parts.netloc.lower() if "@" not in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def _is_url_like(arg: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", arg) is not None


def read_file(path: Path, options: FetchOptions = FetchOptions()) -> Fetched:
    try:
        size = path.stat().st_size
        if size > options.max_bytes:
            raise IngestError(f"file is too large ({size:,} bytes; the limit is {options.max_bytes:,})", EXIT_INPUT)
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read the file: {exc.strerror or exc}", EXIT_INPUT) from None
    fmt = FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise IngestError(f"unsupported file type {path.suffix!r}: use .md, .txt, .html or .pdf", EXIT_INPUT)
    return Fetched(data, fmt)


def _format_of(content_type: str, data: bytes, url: str) -> Format:
    mime = content_type.split(";")[0].strip().lower()
    suffix_fmt = FILE_FORMATS.get(Path(urlsplit(url).path).suffix.lower())
    if mime in _CONTENT_TYPES:
        fmt = _CONTENT_TYPES[mime]
        # Servers often send Markdown as text/plain.
        return "markdown" if fmt == "text" and suffix_fmt == "markdown" else fmt
    head = data[:1024].lstrip().lower()
    if data.startswith(b"%PDF-"):
        return "pdf"
    if mime in ("", "application/octet-stream", "binary/octet-stream"):
        if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
            return "html"
        if suffix_fmt:
            return suffix_fmt
    raise IngestError(f"unsupported content type {mime or '(none)'!r}: use HTML, PDF, Markdown or plain text",
                      EXIT_INPUT)


def fetch_url(url: str, options: FetchOptions = FetchOptions(), *, transport: Any = None) -> Fetched:
    """Download ``url`` within the size and time limits, following at most ``max_redirects``
    redirects, each of which must stay on http(s)."""
    import httpx

    _check_scheme(url, EXIT_INPUT)
    deadline = time.monotonic() + options.timeout
    current = url
    headers = {"User-Agent": options.user_agent, "Accept": "text/html,application/pdf,text/*;q=0.8,*/*;q=0.5"}
    with httpx.Client(follow_redirects=False, headers=headers, transport=transport) as client:
        for _hop in range(options.max_redirects + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IngestError(f"timed out after {options.timeout:g} s (see --timeout)", EXIT_NETWORK)
            try:
                # Each network wait gets what is left of the overall budget; the body loop
                # below also checks the deadline, so a trickling server cannot hold us.
                with client.stream("GET", current, timeout=httpx.Timeout(remaining)) as resp:
                    if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                        nxt = urljoin(str(resp.url), resp.headers["location"].strip())
                        if urlsplit(nxt).scheme.lower() not in ("http", "https"):
                            raise IngestError(f"redirect to {nxt.split('?')[0][:100]} refused: only http and https "
                                              "URLs are followed", EXIT_NETWORK)
                        log.info("redirect %s -> %s", current, nxt)
                        current = nxt
                        continue
                    if resp.status_code >= 400:
                        raise IngestError(f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip(), EXIT_NETWORK)
                    if not 200 <= resp.status_code < 300:
                        raise IngestError(f"unexpected HTTP status {resp.status_code}", EXIT_NETWORK)
                    declared = resp.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > options.max_bytes:
                        raise IngestError(f"too large: {int(declared):,} bytes (the limit is {options.max_bytes:,}; "
                                          "see --max-size)", EXIT_NETWORK)
                    buf = bytearray()
                    for chunk in resp.iter_bytes():
                        buf.extend(chunk)
                        if len(buf) > options.max_bytes:
                            raise IngestError(f"too large: more than {options.max_bytes:,} bytes (see --max-size)",
                                              EXIT_NETWORK)
                        if time.monotonic() > deadline:
                            raise httpx.ReadTimeout("deadline")
                    data = bytes(buf)
                    fmt = _format_of(resp.headers.get("content-type", ""), data, str(resp.url))
                    return Fetched(data, fmt, str(resp.url), resp.charset_encoding)
            except httpx.TimeoutException:
                raise IngestError(f"timed out after {options.timeout:g} s (see --timeout)", EXIT_NETWORK) from None
            except httpx.ConnectError as exc:
                host = urlsplit(current).netloc
                raise IngestError(f"cannot reach {host}: {_reason(exc)}", EXIT_NETWORK) from None
            except httpx.UnsupportedProtocol:
                raise IngestError(f"redirect to {current[:100]} refused: only http and https", EXIT_NETWORK) from None
            except httpx.InvalidURL as exc:
                raise IngestError(f"invalid URL {current[:100]}: {exc}", EXIT_NETWORK) from None
            except httpx.HTTPError as exc:
                raise IngestError(f"download failed: {_reason(exc)}", EXIT_NETWORK) from None
    raise IngestError(f"too many redirects (more than {options.max_redirects})", EXIT_NETWORK)

