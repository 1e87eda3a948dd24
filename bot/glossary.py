"""Bilingual domain glossary for cross-language query expansion.

The glossary is data, not code: the first Markdown table of every corpus document
with ``kind: glossary``, whose first two columns are English and Chinese terms
(synonyms separated by ``/``)::

    | English | 中文 | ... |
    |---|---|---|
    | fiduciary / fiduciary duty | 受託人 / 受託人義務 |

A question mentioning a term on one side is expanded with the terms on the other
side, so "custody" also searches for 託管 and 「私募股權」 also for "private equity".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from .corpus import Document
from .script import normalise

_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")


@dataclass(frozen=True, slots=True)
class Entry:
    english: tuple[str, ...]  # normalised (lower case)
    chinese: tuple[str, ...]  # normalised (Simplified)


def _split_terms(cell: str) -> tuple[str, ...]:
    cell = re.sub(r"[*`_]", "", cell)
    terms = [normalise(t.strip()) for t in re.split(r"\s*[/／;；]\s*", cell)]
    # Parenthesised acronyms are terms too: "Department of Labor (DOL)".
    extra = [m.strip() for t in terms for m in re.findall(r"\(([^)]{2,20})\)", t) if not re.fullmatch(r"[a-z]", m)]
    plain = [re.sub(r"\s*\([^)]{2,20}\)\s*", " ", t).strip() for t in terms]
    out = []
    for t in [*terms, *plain, *extra]:
        if t and t not in out and len(t) >= 2:
            out.append(t)
    return tuple(out)


def parse_table(body: str) -> list[Entry]:
    """Entries of the first Markdown table in ``body``."""
    entries: list[Entry] = []
    in_table = False
    header_seen = False
    for line in body.split("\n"):
        m = _ROW.match(line)
        if not m:
            if in_table:
                break
            continue
        in_table = True
        if _RULE.match(line):
            header_seen = True
            continue
        if not header_seen:
            continue  # the header row
        cells = [c.strip() for c in m.group(1).split("|")]
        if len(cells) < 2:
            continue
        en, zh = _split_terms(cells[0]), _split_terms(cells[1])
        if en and zh:
            entries.append(Entry(en, zh))
    return entries


def _is_ascii_term(term: str) -> bool:
    return term.isascii()


_PLURAL = re.compile(r"(?<=[a-z]{3})(?<!s)s\b")


def singular(word: str) -> str:
    """``word`` without a plural "s" ("limits" -> "limit"; "class" stays)."""
    return _PLURAL.sub("", word)


def _words(text: str) -> str:
    """Latin words and numbers separated by single spaces, for whole-word matching of
    English terms. Chinese characters separate words too: in 「什么是ERISA」 the
    term "erisa" stands on its own. A plural "s" is dropped on both sides, so
    "limits" finds the term "limit" and "ETPs" finds "ETP"."""
    return singular(re.sub(r"[^0-9a-z]+", " ", text).strip())


@dataclass(frozen=True, slots=True)
class Concept:
    """One glossary entry found in a text: the words found, and other ways to say it."""

    found: tuple[str, ...]  # the entry's terms that occur in the text
    english: tuple[str, ...]  # the entry's other terms in Latin letters
    chinese: tuple[str, ...]  # the entry's other terms in Chinese characters

    def wordings(self, chinese: bool) -> tuple[str, ...]:
        return self.chinese if chinese else self.english


@dataclass(frozen=True)
class Glossary:
    entries: tuple[Entry, ...] = ()

    @classmethod
    def from_documents(cls, docs: Iterable[Document]) -> Glossary:
        seen: dict[tuple[tuple[str, ...], tuple[str, ...]], Entry] = {}
        for doc in docs:
            if doc.kind == "glossary":
                for e in parse_table(doc.body):
                    seen.setdefault((e.english, e.chinese), e)
        return cls(tuple(seen.values()))

    def __len__(self) -> int:
        return len(self.entries)

    @cached_property
    def _needles(self) -> list[tuple[Entry, tuple[tuple[str, str], ...]]]:
        """Per entry, each term with what to look for: English terms as space-padded
        words, Chinese terms as substrings."""
        out = []
        for e in self.entries:
            terms = tuple((t, f" {_words(t)} " if _is_ascii_term(t) else t)
                          for t in dict.fromkeys((*e.english, *e.chinese)))
            out.append((e, terms))
        return out

    def _found(self, text: str) -> list[tuple[Entry, tuple[str, ...]]]:
        norm = normalise(text)
        padded = f" {_words(norm)} "
        out = []
        for e, terms in self._needles:
            found = tuple(t for t, needle in terms if needle in (padded if needle.startswith(" ") else norm))
            if found:
                out.append((e, found))
        return out

    def matches(self, text: str) -> list[Entry]:
        """Entries with a term that occurs in ``text`` (either language)."""
        return [e for e, _ in self._found(text)]

    def concepts(self, text: str) -> list[Concept]:
        """Every entry found in ``text``, with the terms found and the others."""
        out = []
        for e, found in self._found(text):
            rest = [t for t in dict.fromkeys((*e.english, *e.chinese)) if t not in found]
            out.append(Concept(found, tuple(t for t in rest if _is_ascii_term(t)),
                               tuple(t for t in rest if not _is_ascii_term(t))))
        return out

    def expand(self, text: str) -> list[str]:
        """Terms from the other language for every glossary term found in ``text``.

        Terms already present in ``text`` are not repeated.
        """
        norm = normalise(text)
        out: list[str] = []
        for e in self.matches(text):
            for t in (*e.english, *e.chinese):
                if t not in norm and t not in out:
                    out.append(t)
        return out
