"""The Chat tab: pick a variant and talk to it, with streamed, multi-turn answers."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from travelbot.chat import reply, reply_length
from travelbot.config import get_settings
from travelbot.errors import TravelbotError
from travelbot.models import get_registry
from travelbot.limits import check_rate
from travelbot.ui.common import (
    answer_footer,
    default_variant,
    error_note,
    message_box,
    raft_details,
    variant_choices,
    visitor_key,
)

EXAMPLES = [
    "What should I pack for a week in Lisbon in May?",
    "Is the Japan Rail Pass still worth it for a 10-day trip?",
    "How do I get from the airport to the city centre in Rome?",
    "Any safety tips for travelling alone in Mexico City?",
]


def respond(
    message: str,
    display: list[dict],
    history: list[dict],
    variant_name: str,
    conversation_id: str | None,
    system_prompt: str,
    max_new_tokens: int,
    temperature: float,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    """Stream one answer; yields (textbox, chatbot, history, conversation id, status)."""
    display, history = list(display or []), list(history or [])
    if message and message.strip() and _waits_for_guides(variant_name):  # the question stays visible meanwhile
        yield "", [*display, {"role": "user", "content": message.strip()},
                   {"role": "assistant", "content": LOADING_GUIDES}], history, conversation_id, ""
    try:
        check_rate(visitor_key(request))
        answer = reply(
            variant_name or "",
            message,
            history,
            conversation_id=conversation_id or None,
            system_prompt=system_prompt,
            client_id=getattr(request, "session_hash", None),
            max_new_tokens=int(max_new_tokens),
            temperature=float(temperature),
        )
    except TravelbotError as exc:
        yield message, display, history, conversation_id, error_note(str(exc))
        return
    question = message.strip()
    display += [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]

    def turn() -> list[dict]:
        # Kept current on every chunk, so a stopped answer stays part of the conversation.
        return [*history, {"role": "user", "content": question}, {"role": "assistant", "content": answer.answer}]

    try:
        for _ in answer:
            display[-1] = {"role": "assistant", "content": answer.progress}
            yield "", display, turn(), answer.conversation_id, ""
    except TravelbotError as exc:
        display[-1] = {"role": "assistant", "content": answer.answer + "\n\n" + error_note(str(exc))}
        yield "", display, turn(), answer.conversation_id, error_note(str(exc))
        return
    shown = answer.answer + raft_details(answer) + answer_footer(answer.variant, answer.stats)
    display[-1] = {"role": "assistant", "content": shown}
    yield "", display, turn(), answer.conversation_id, ""


LOADING_GUIDES = "⏳ Loading the travel guides this variant reads (once, after the server starts)…"


def _waits_for_guides(variant_name: str | None) -> bool:
    """Whether this variant retrieves passages and the retriever is still loading."""
    from travelbot.data.corpus import corpus_retriever_ready

    try:
        return bool(get_registry().variant(variant_name or "").retriever) and not corpus_retriever_ready()
    except TravelbotError:
        return False


def variant_details(variant_name: str) -> tuple:
    """(description markdown, system prompt, max new tokens) of the chosen variant: the length slider follows
    the variant's own default (a RAFT-format variant needs room for its quotes before the final answer)."""
    try:
        variant = get_registry().variant(variant_name or "")
    except TravelbotError as exc:
        return error_note(str(exc)), "", gr.skip()
    adapter = f" · adapter `{variant.adapter.name}`" if variant.adapter else ""
    text = f"**{variant.name}** — method **{variant.method}**, base **{variant.base.name}**{adapter}"
    if variant.base.demo:
        text += f" · a {variant.base.demo}-parameter demo model: its answers show the method, not good advice"
    if variant.description:
        text += f"<br>{variant.description}"
    return text, variant.effective_system_prompt, reply_length(variant, get_settings().max_new_tokens)


def build(app: gr.Blocks) -> None:
    """Lay out the Chat tab inside the current Blocks context."""
    settings = get_settings()
    choices = variant_choices()
    with gr.Row():
        variant = gr.Dropdown(
            choices, value=default_variant(choices), label="Variant", scale=4,
            allow_custom_value=True,  # the registry, re-read per request, decides what exists
        )
        refresh = gr.Button("↻ Refresh list", scale=1, size="sm")
    details = gr.Markdown()
    chatbot = gr.Chatbot(label="Conversation", height=460, placeholder="Ask a travel question to start.")
    with gr.Row():
        textbox = message_box("Ask a travel question…", settings, max_lines=6)
        send = gr.Button("Send", variant="primary", scale=1)
        stop = gr.Button("Stop", variant="stop", scale=1)
    status = gr.Markdown(elem_id="chat-status")
    gr.Examples(EXAMPLES, inputs=textbox, label="Try")
    with gr.Accordion("Settings", open=False):
        system_prompt = gr.Textbox(label="System prompt", lines=3, max_length=settings.max_system_prompt_chars)
        max_new_tokens = gr.Slider(16, 1024, value=settings.max_new_tokens or 256, step=16, label="Max new tokens",
                                   info="Follows the variant: a RAFT-format one needs room for its quotes first.")
        temperature = gr.Slider(0.0, 1.5, value=0.7, step=0.05, label="Temperature (0 = greedy)")
    clear = gr.Button("New conversation", size="sm")
    history = gr.State([])
    conversation_id = gr.State(None)

    inputs = [textbox, chatbot, history, variant, conversation_id, system_prompt, max_new_tokens, temperature]
    outputs = [textbox, chatbot, history, conversation_id, status]
    events = [
        send.click(respond, inputs, outputs, api_name="chat"),
        textbox.submit(respond, inputs, outputs, api_visibility="private"),
    ]
    # Stopping closes the stream; the partial answer is logged with finish reason "cancelled".
    stop.click(None, None, None, cancels=events, api_visibility="private")

    def reset() -> tuple:
        return [], [], None, ""

    clear.click(reset, None, [chatbot, history, conversation_id, status], api_visibility="private")
    variant.change(variant_details, variant, [details, system_prompt, max_new_tokens], api_visibility="private").then(
        reset, None, [chatbot, history, conversation_id, status], api_visibility="private"
    )

    def refreshed(current: str | None):
        fresh = variant_choices()
        names = [name for _, name in fresh]
        return gr.Dropdown(choices=fresh, value=current if current in names else default_variant(fresh))

    refresh.click(refreshed, variant, variant, api_visibility="private")
    # Re-read the registry when a page opens, so adapters trained since start-up are listed.
    app.load(refreshed, variant, variant, api_visibility="private").then(
        variant_details, variant, [details, system_prompt, max_new_tokens], api_visibility="private"
    )
