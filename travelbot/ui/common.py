"""Small helpers shared by the tabs: variant choices and answer footers."""

from __future__ import annotations

import gradio as gr

from travelbot.config import get_settings
from travelbot.feedback.voters import Voter, identify
from travelbot.models import GenerationStats, Variant, get_registry


def variant_choices() -> list[tuple[str, str]]:
    """(label, name) pairs for a dropdown, re-read so new adapters appear without a restart."""
    return [(f"{v.name} · {v.method} · {v.base.name}", v.name) for v in get_registry().variants().values()]


def default_variant(choices: list[tuple[str, str]]) -> str | None:
    return choices[0][1] if choices else None


def default_pair(choices: list[tuple[str, str]]) -> list[str]:
    """Two variants to compare first: a base beside a fine-tuned variant (RAFT when there is one), so the
    first comparison shows what fine-tuning changed."""
    variants = get_registry().variants()
    names = [name for _, name in choices if name in variants]
    base = next((n for n in names if variants[n].method == "base"), None)
    tuned = sorted((n for n in names if variants[n].method != "base"), key=lambda n: variants[n].method != "raft")
    if base and tuned:
        return [base, tuned[0]]
    return [name for _, name in choices[:2]]


def answer_footer(variant: Variant, stats: GenerationStats) -> str:
    """The line under an answer: method, base, tokens and speed."""
    speed = f"{stats.tokens_per_second:.1f} tok/s" if stats.tokens_per_second else "—"
    return (
        f"\n\n<sub>{variant.method} · base {variant.base.name} · {stats.completion_tokens} tokens · {speed}"
        f"{' · stopped at the length limit' if stats.finish_reason == 'length' else ''}</sub>"
    )


def message_box(placeholder: str, settings=None, **kwargs) -> gr.Textbox:
    """The box a question is typed in; it holds as many characters as the server accepts, no more."""
    limit = (settings or get_settings()).max_message_chars
    return gr.Textbox(placeholder=f"{placeholder} (up to {limit:,} characters; a longer paste is cut there)",
                      show_label=False, scale=5, max_length=limit, **kwargs)


def demo_note() -> str:
    """A plain word that the answers come from a small demo model (empty when no demo base is enabled)."""
    sizes = sorted({b.demo for b in get_registry().bases().values() if b.demo})
    if not sizes:
        return ""
    # No base name here: the header shows on the Arena too, where names must wait for the vote.
    return (f"ℹ️ **The embedded base is a {' / '.join(sizes)}-parameter demo model**: expect wrong or rambling "
            "travel advice. It is here to show how fine-tuning methods and metrics compare, on a laptop CPU. For "
            "useful answers, point travelbot at a 7B model on a GPU (README: *A real 7B model on a GPU machine*).")


def error_note(message: str) -> str:
    return f"⚠️ {message}"


def quoted_sources(quotes: list[str], passages: list) -> list[tuple[str, object | None]]:
    """Each quote with the retrieved passage it comes from (None when the model quoted text it was not given)."""
    def plain(text: str) -> str:
        return " ".join(text.split()).lower()

    return [(quote, next((p for p in passages if plain(quote) and plain(quote) in plain(p.text)), None))
            for quote in quotes]


def raft_details(reply) -> str:
    """Under a RAFT answer: the passages it quoted, with the quoted text, its reasoning, and what else it read."""
    raft = reply.raft
    if raft is None:
        return ""
    parts = []
    quoted = quoted_sources(raft.quotes, reply.passages)
    if quoted:
        parts.append("**Sources quoted.**\n" + "\n".join(
            f"> {quote}\n>\n> — *{p.title}, {p.section}*" if p is not None else f"> {quote}\n>\n> — *not in the passages it read*"
            for quote, p in quoted))
    if raft.reasoning:
        parts.append(f"**Reasoning.** {raft.reasoning}")
    unquoted = [p for p in reply.passages if all(p is not source for _, source in quoted)]
    if unquoted:
        parts.append("**Also read, not quoted.** " + "; ".join(f"{p.title} — {p.section}" for p in unquoted))
    if not raft.well_formed:
        parts.append("*The model did not mark a final answer; showing its whole output.*")
    body = "\n\n".join(parts)
    label = f"{len(quoted)} source{'' if len(quoted) == 1 else 's'} quoted" if quoted else "Reasoning and sources"
    return f"\n\n<details><summary>{label}</summary>\n\n{body}\n\n</details>"


def hub_username(profile: gr.OAuthProfile | dict | None) -> str | None:
    """The Hugging Face username of a signed-in visitor (None when nobody signed in)."""
    if not profile:
        return None
    return getattr(profile, "username", None) or profile.get("preferred_username")


def voter_for(browser_id: str | None, name: str | None, request: gr.Request | None,
              profile: gr.OAuthProfile | None) -> Voter:
    """The person behind an Arena or Rate request: Hub sign-in, else this browser's id, else the session."""
    return identify(browser_id, name, username=hub_username(profile), session=getattr(request, "session_hash", None))


def visitor_key(request: gr.Request | None, profile: gr.OAuthProfile | None = None) -> str:
    """Who a request comes from, for rate limits: the signed-in user, else the network address."""
    username = hub_username(profile)
    if username:
        return f"hf:{username}"
    headers = getattr(request, "headers", None) or {}
    # On a Space every request comes through its proxy, which names the visitor first in X-Forwarded-For.
    forwarded = headers.get("x-forwarded-for", "") if get_settings().hosted else ""
    address = forwarded.split(",")[0].strip() or getattr(getattr(request, "client", None), "host", None)
    return f"address:{address or 'unknown'}"


def identity_note() -> str:
    """How votes and ratings are told apart here, in a sentence for the Arena and Rate tabs."""
    settings = get_settings()
    if settings.oauth_enabled or settings.hosted:
        return ("<sub>Each vote and rating is tied to your Hugging Face account: sign in with the button at the top "
                "of the page.</sub>")
    return ("<sub>Without sign-in, votes and ratings are tied to a random id kept in this browser (no account): "
            "it tells honest people apart, but clearing the browser's storage makes a new voter, so daily caps are "
            "per browser. A public Space requires Hugging Face sign-in instead.</sub>")


def new_browser_id(current: str | None) -> str:
    """A random id this browser keeps (in local storage) so its votes and ratings can be told apart."""
    import uuid

    return current if current and len(current) >= 8 else uuid.uuid4().hex
