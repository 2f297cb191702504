"""Who is voting or rating, and the rules that keep the votes honest.

Locally a voter is the random id their browser keeps (plus an optional display name); on a Space
with Hugging Face sign-in it is their Hub user name. Votes are capped per voter per day, and a vote
on a battle whose answers name a model or vendor is kept but flagged (the battle was not blind).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from travelbot.config import Settings, get_settings
from travelbot.errors import InvalidInputError

MAX_NAME_CHARS = 40

# Names an answer may use to give its maker away; the variants' and bases' own names are added.
DEFAULT_FLAG_WORDS = (
    "openai", "chatgpt", "gpt-3", "gpt-3.5", "gpt-4", "gpt4", "anthropic", "claude", "llama", "mistral", "mixtral",
    "gemini", "bard", "deepmind", "hugging face", "huggingface", "smollm", "qwen", "deepseek", "vicuna", "falcon",
)


@dataclass(frozen=True)
class Voter:
    """A person voting or rating: a stable id (``hf:<user>``, ``browser:<id>``, ``session:<id>`` or ``cli:<name>``)."""

    id: str
    name: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.id.startswith("hf:")


def check_display_name(name: str | None) -> str | None:
    """A display name without control characters, at most ``MAX_NAME_CHARS`` long; None when blank."""
    name = "".join(ch for ch in (name or "") if unicodedata.category(ch)[0] != "C").strip()
    if not name:
        return None
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInputError(f"The display name is {len(name)} characters long; keep it to {MAX_NAME_CHARS}.")
    return name


_BROWSER_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def identify(
    browser_id: str | None = None,
    display_name: str | None = None,
    *,
    username: str | None = None,
    session: str | None = None,
    settings: Settings | None = None,
) -> Voter:
    """The voter behind a request: the Hub user when signed in, else the browser's id, else the session.

    A browser id is whatever the browser says, so it only tells honest people apart; on a Space (and
    wherever Hugging Face sign-in is on) signing in is required, so each person votes and rates once.
    """
    settings = settings or get_settings()
    name = check_display_name(display_name)
    if username:
        return Voter(f"hf:{username}", name or username)
    if settings.hosted and not settings.oauth_enabled:
        raise InvalidInputError("Voting and rating on a Space need Hugging Face sign-in, which this Space does not "
                                "have: its admins can add hf_oauth: true to the Space's card.")
    if settings.oauth_enabled:
        raise InvalidInputError("Sign in with Hugging Face (the button at the top of the page) to vote or rate.")
    if browser_id and _BROWSER_ID.match(browser_id):
        return Voter(f"browser:{browser_id}", name)
    if session:
        return Voter(f"session:{session}", name)
    raise InvalidInputError("This browser has no voter id yet; reload the page and try again.")


def flag_words(names: list[str] | None = None, settings: Settings | None = None) -> list[str]:
    """The configured words (``TRAVELBOT_FLAG_WORDS`` or the built-in list) plus the given variant/base names."""
    settings = settings or get_settings()
    words = DEFAULT_FLAG_WORDS if settings.flag_words is None else settings.flag_words.split(",")
    return sorted({w.strip().lower() for w in [*words, *(names or [])] if w and w.strip()})


def flag_reason(answers: list[str], words: list[str]) -> str | None:
    """Why a vote on these answers cannot count as blind (an answer names a model or vendor), or None."""
    found: list[str] = []
    for word in words:
        pattern = re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w])", re.IGNORECASE)
        if any(pattern.search(answer) for answer in answers) and word not in found:
            found.append(word)
    return f"an answer names {', '.join(repr(w) for w in found)}" if found else None
