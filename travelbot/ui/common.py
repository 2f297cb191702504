"""Small helpers shared by the tabs: variant choices and answer footers."""

from __future__ import annotations

import gradio as gr

from travelbot.feedback.voters import Voter, identify
from travelbot.models import GenerationStats, Variant, get_registry


def variant_choices() -> list[tuple[str, str]]:
    """(label, name) pairs for a dropdown, re-read so new adapters appear without a restart."""
    return [(f"{v.name} · {v.method} · {v.base.name}", v.name) for v in get_registry().variants().values()]


def default_variant(choices: list[tuple[str, str]]) -> str | None:
    return choices[0][1] if choices else None


def answer_footer(variant: Variant, stats: GenerationStats) -> str:
    """The line under an answer: method, base, tokens and speed."""
    speed = f"{stats.tokens_per_second:.1f} tok/s" if stats.tokens_per_second else "—"
    return (
        f"\n\n<sub>{variant.method} · base {variant.base.name} · {stats.completion_tokens} tokens · {speed}"
        f"{' · stopped at the length limit' if stats.finish_reason == 'length' else ''}</sub>"
    )


def error_note(message: str) -> str:
    return f"⚠️ {message}"


def raft_details(reply) -> str:
    """Under a RAFT answer: its reasoning, the quotes it relied on and the passages it read."""
    raft = reply.raft
    if raft is None:
        return ""
    parts = []
    if raft.reasoning:
        parts.append(f"**Reasoning.** {raft.reasoning}")
    if raft.quotes:
        parts.append("**Quoted.**\n" + "\n".join(f"> {q}" for q in raft.quotes))
    if reply.passages:
        parts.append("**Sources read.** " + "; ".join(f"{p.title} — {p.section}" for p in reply.passages))
    if not raft.well_formed:
        parts.append("*The model did not mark a final answer; showing its whole output.*")
    body = "\n\n".join(parts)
    return f"\n\n<details><summary>Reasoning and sources</summary>\n\n{body}\n\n</details>"


def voter_for(browser_id: str | None, name: str | None, request: gr.Request | None,
              profile: gr.OAuthProfile | None) -> Voter:
    """The person behind an Arena or Rate request: Hub sign-in, else this browser's id, else the session."""
    username = (getattr(profile, "username", None) or profile.get("preferred_username")) if profile else None
    return identify(browser_id, name, username=username, session=getattr(request, "session_hash", None))


def new_browser_id(current: str | None) -> str:
    """A random id this browser keeps (in local storage) so its votes and ratings can be told apart."""
    import uuid

    return current if current and len(current) >= 8 else uuid.uuid4().hex
