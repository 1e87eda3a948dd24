"""Conversations: the last few turns, and resolving follow-ups against them.

The engine holds no per-user state: a front end keeps a :class:`Conversation` per
chat, passes it into ``Engine.answer`` and appends the turn it gets back. A short or
anaphoric follow-up ("後來被撤回了嗎?", "And the Labor Department?", 「它的資產規模
有多大?」) is searched together with the question it follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .script import Lang, normalise

MAX_TURNS = 6

# Words that point back at something said before. Matched on normalised text.
_ANAPHORA_ZH = re.compile(
    r"^(那|那么|后来|之后|然后|随后|还有|另外|此外|而且|并且|它|其|该|这|此|他们|她|他)"
    r"|它|这个|这些|那个|那些|这项|这份|该项|此举|此事|上述|前述"
    r"|呢[?？!！。]?$"
)
_ANAPHORA_EN = re.compile(
    r"^(and|but|also|so|what about|how about|then|and what|what else|why|when|is it|was it|did it|does it|were they)\b"
    r"|\b(it|its|they|them|their|that|this|those|these|he|she|the same|the latter|the former)\b"
)


@dataclass(frozen=True, slots=True)
class Turn:
    question: str
    resolved: str  # what was searched: the question, with its antecedent if a follow-up
    lang: Lang
    doc_ids: tuple[str, ...] = ()
    no_answer: bool = False


@dataclass
class Conversation:
    """The last ``max_turns`` turns of one chat. Owned by the caller."""

    turns: list[Turn] = field(default_factory=list)
    max_turns: int = MAX_TURNS

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    @property
    def lang(self) -> Lang | None:
        return self.turns[-1].lang if self.turns else None

    def append(self, turn: Turn) -> None:
        self.turns.append(turn)
        del self.turns[: -self.max_turns]

    def clear(self) -> None:
        self.turns.clear()


def is_follow_up(question: str, content_words: int) -> bool:
    """Does ``question`` lean on the previous turn?

    ``content_words`` is the number of content words (stopwords removed) in it.
    """
    norm = normalise(question).strip()
    if content_words <= 2:
        return True
    if _ANAPHORA_ZH.search(norm):
        return True
    if _ANAPHORA_EN.search(norm) and content_words <= 6:
        return True
    return False


def context_for(question: str, conversation: Conversation | None, content_words: int) -> str:
    """The earlier question to search with, or "" when ``question`` stands alone."""
    if conversation is None or conversation.last is None:
        return ""
    last = conversation.last
    if last.no_answer:
        return ""
    if not is_follow_up(question, content_words):
        return ""
    # A chain of follow-ups keeps only the last two questions it leans on, so the
    # searched text does not grow with the conversation.
    return "\n".join(last.resolved.splitlines()[-2:])
