"""The Compare tab: one prompt to several named variants, answers streaming side by side."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import gradio as gr

from travelbot.chat import ParallelReplies, Reply, check_message, reply, reply_length
from travelbot.config import get_settings
from travelbot.errors import InvalidInputError, TravelbotError
from travelbot.limits import check_rate
from travelbot.models import get_registry
from travelbot.store import get_store
from travelbot.ui.common import (
    answer_footer,
    default_pair,
    error_note,
    message_box,
    raft_details,
    variant_choices,
    visitor_key,
)

MAX_PANELS = 4


def _panel(name: str, body: str) -> str:
    return f"#### {name}\n\n{body}"


def compare(
    message: str, variant_names: list[str], max_new_tokens: int, temperature: float, request: gr.Request | None = None
) -> Iterator[list]:
    """Stream every chosen variant's answer in parallel; yields [status, *panels]."""
    names = list(dict.fromkeys(variant_names or []))
    hidden = [gr.Markdown(visible=False)] * MAX_PANELS
    try:
        check_message(message)
        if not 2 <= len(names) <= MAX_PANELS:
            raise InvalidInputError(f"Pick between 2 and {MAX_PANELS} variants to compare.")
        check_rate(visitor_key(request))
        store = get_store()
        client = getattr(request, "session_hash", None)
        conversation = store.new_conversation(kind="compare", client_id=client)
        registry = get_registry()
        replies: list[Reply] = [
            reply(variant, message, conversation_id=conversation, client_id=client, store=store,
                  max_new_tokens=reply_length(variant, int(max_new_tokens)), temperature=float(temperature))
            for variant in [registry.variant(name) for name in names]
        ]
    except TravelbotError as exc:
        yield [error_note(str(exc)), *hidden]
        return

    parallel = ParallelReplies(replies)
    errors = parallel.errors

    def panels(final: bool) -> list:
        shown = []
        for index, answer in enumerate(replies):
            done = final or answer.generation.done
            body = (answer.answer if done else answer.progress) or ("…" if not final else "")
            if index in errors:
                body += "\n\n" + error_note(errors[index])
            elif done:
                body += raft_details(answer) + answer_footer(answer.variant, answer.stats)
            shown.append(gr.Markdown(_panel(answer.variant.name, body), visible=True))
        return shown + hidden[len(shown):]

    with contextlib.closing(iter(parallel)) as ticks:  # closed with this generator: Stop stops every stream
        for _ in ticks:
            yield ["Generating…", *panels(final=False)]
    yield ["", *panels(final=True)]


def build(app: gr.Blocks) -> None:
    """Lay out the Compare tab inside the current Blocks context."""
    settings = get_settings()
    choices = variant_choices()
    with gr.Row():
        variants = gr.Dropdown(
            choices, value=default_pair(choices), multiselect=True, max_choices=MAX_PANELS,
            allow_custom_value=True,
            label=f"Variants to compare (2–{MAX_PANELS})", scale=4,
        )
        refresh = gr.Button("↻ Refresh list", scale=1, size="sm")
    with gr.Row():
        textbox = message_box("One travel question for every variant…", settings)
        send = gr.Button("Compare", variant="primary", scale=1)
        stop = gr.Button("Stop", variant="stop", scale=1)
    with gr.Accordion("Settings", open=False):
        max_new_tokens = gr.Slider(0, 1024, value=settings.max_new_tokens, step=16,
                                   label="Max new tokens (0 = each variant's own)",
                                   info="A RAFT-format variant's own leaves room for its quotes before the answer.")
        temperature = gr.Slider(0.0, 1.5, value=0.7, step=0.05, label="Temperature (0 = greedy)")
    status = gr.Markdown(elem_id="compare-status")
    with gr.Row(equal_height=False):
        panels = [gr.Markdown(visible=False, elem_classes=["compare-panel"]) for _ in range(MAX_PANELS)]

    inputs = [textbox, variants, max_new_tokens, temperature]
    events = [
        send.click(compare, inputs, [status, *panels], api_name="compare"),
        textbox.submit(compare, inputs, [status, *panels], api_visibility="private"),
    ]
    stop.click(None, None, None, cancels=events, api_visibility="private")

    def refreshed(current: list[str] | None):
        fresh = variant_choices()
        names = {name for _, name in fresh}
        return gr.Dropdown(choices=fresh, value=[n for n in (current or []) if n in names])

    refresh.click(refreshed, variants, variants, api_visibility="private")
    app.load(refreshed, variants, variants, api_visibility="private")
