"""The Arena tab: blind battles between two variants, the vote, the reveal, and the leaderboard.

What the browser receives before a vote is only the answers' text: the battle id stays in server-side
state, and errors are phrased without model names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import gradio as gr

from travelbot.chat import check_message
from travelbot.config import get_settings
from travelbot.errors import InvalidInputError, TravelbotError
from travelbot.feedback import arena
from travelbot.limits import check_rate
from travelbot.ui import leaderboard_view
from travelbot.ui.admin import admin_only, admin_section
from travelbot.ui.common import demo_note, error_note, identity_note, message_box, visitor_key, voter_for

GETTING_READY = "Both models are getting ready: the first question after the server starts takes longer…"
VOTES = {"A is better": "model_a", "B is better": "model_b", "Tie": "tie", "Both are bad": "tie (bothbad)"}  # -> winner
INTRO = (
    "Ask a travel question: two anonymous variants answer side by side as **A** and **B**. Ask up to "
    "{turns} questions, then vote. Names are revealed after your vote; the votes feed the leaderboard below."
)


def _buttons(enabled: bool) -> list:
    return [gr.Button(interactive=enabled) for _ in VOTES]


def battle_turn(
    message: str, battle_id: str | None, chat_a: list[dict], chat_b: list[dict], voter_key: str, name: str,
    request: gr.Request | None = None, profile: gr.OAuthProfile | None = None,
) -> Iterator[list]:
    """Both sides answer ``message``; yields [battle id, chat A, chat B, textbox, status, *vote buttons]."""
    chat_a, chat_b = list(chat_a or []), list(chat_b or [])
    try:
        voter = voter_for(voter_key, name, request, profile)
        check_message(message)  # before a battle is drawn, so a refused message leaves nothing behind
        check_rate(visitor_key(request, profile))
        if not battle_id:
            battle_id = arena.start_battle(voter).id
        if arena.waits_for_guides(battle_id):  # the question stays visible while the guides load
            pending = [{"role": "user", "content": message.strip()}, {"role": "assistant", "content": "…"}]
            yield [battle_id, chat_a + pending, chat_b + pending, "", GETTING_READY, *_buttons(False)]
        round_ = arena.ask(battle_id, message, voter)
    except TravelbotError as exc:
        yield [battle_id, chat_a, chat_b, message, error_note(str(exc)), *_buttons(bool(chat_a))]
        return
    question = message.strip()
    chat_a += [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
    chat_b += [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]

    def frame(status: str, final: bool = False) -> list:
        text_a, text_b = round_.texts
        chat_a[-1] = {"role": "assistant", "content": text_a or ("" if final else "…")}
        chat_b[-1] = {"role": "assistant", "content": text_b or ("" if final else "…")}
        return [battle_id, chat_a, chat_b, "", status, *_buttons(final)]

    try:
        with contextlib.closing(iter(round_)) as ticks:  # closed with this generator: Stop stops both sides
            for _ in ticks:
                yield frame("Both models are answering…")
    finally:
        round_.close()
    notes = [error_note(f"Model {side} could not answer: {message}") for side, message in round_.errors.items()]
    turns = len(chat_a) // 2
    limit = get_settings().arena_max_turns
    hint = "Vote now: this battle has reached its question limit." if turns >= limit else (
        f"Vote, or ask a follow-up ({limit - turns} left).")
    yield frame(" ".join([*notes, hint]), final=True)


def cast_vote(choice: str, battle_id: str | None, voter_key: str, name: str,
              request: gr.Request | None = None, profile: gr.OAuthProfile | None = None) -> list:
    """Record the vote and reveal; returns [reveal, status, *vote buttons, textbox, send]."""
    try:
        voter = voter_for(voter_key, name, request, profile)
        if not battle_id:
            raise InvalidInputError("Ask a question first: there is no battle to vote on yet.")
        if choice not in VOTES:
            raise InvalidInputError(f"Unknown vote {choice!r}; choose one of {', '.join(VOTES)}.")
        result = arena.record_vote(battle_id, VOTES[choice], voter)
    except TravelbotError as exc:
        return ["", error_note(str(exc)), *_buttons(bool(battle_id)), gr.Textbox(), gr.Button()]
    verdict = {"model_a": "A was better", "model_b": "B was better", "tie": "a tie",
               "tie (bothbad)": "both were bad"}[result.winner]
    method = lambda m: f" ({m})" if m else ""
    reveal = (f"### Thank you — you said {verdict}.\n\n**A** was **{result.model_a}**{method(result.method_a)} · "
              f"**B** was **{result.model_b}**{method(result.method_b)}")
    if result.flagged:
        reveal += (f"\n\n<sub>This vote is kept but flagged and left out of the leaderboard: {result.flag_reason}, "
                   "so the battle was not blind.</sub>")
    if result.judged:
        reveal += ("\n\n<sub>An LLM judge is judging this battle too (both orders), so your vote also measures "
                   "how far the judge can be trusted: see the Agreement tab.</sub>")
    return [reveal, "Press **New round** for another battle.", *_buttons(False),
            gr.Textbox(interactive=False), gr.Button(interactive=False)]


def new_round() -> list:
    """A fresh, empty battle (the pair is drawn when the first question is sent)."""
    return [None, [], [], "", "", *_buttons(False), gr.Textbox(interactive=True, value=""), gr.Button(interactive=True)]


def suggest() -> str:
    try:
        return arena.suggest_question()
    except TravelbotError as exc:
        raise gr.Error(str(exc)) from None


def build(app: gr.Blocks, voter_key: gr.BrowserState) -> None:
    """Lay out the Arena tab inside the current Blocks context."""
    settings = get_settings()
    gr.Markdown(INTRO.format(turns=settings.arena_max_turns))
    if demo_note():
        gr.Markdown("Both sides run on a small demo model here: vote for the more useful answer even when neither "
                    "is good — that is what separates the fine-tuning methods.")
    gr.Markdown(identity_note())
    with gr.Row():
        name = gr.Textbox(label="Your name (optional, shown in exports)", max_length=80, scale=2)
    battle_id = gr.State(None)
    # The question first, then both answers, then the vote: the order a voter goes through.
    with gr.Row():
        textbox = message_box("Ask both models a travel question…", settings)
        send = gr.Button("Send", variant="primary", scale=1)
        stop = gr.Button("Stop", variant="stop", scale=1)
    with gr.Row():
        suggest_button = gr.Button("Suggest a golden question (its votes count in Agreement)", size="sm")
        new_round_button = gr.Button("New round", size="sm")
    status = gr.Markdown(elem_id="arena-status")
    with gr.Row(equal_height=True):
        chat_a = gr.Chatbot(label="Model A", height=380, elem_id="arena-a")
        chat_b = gr.Chatbot(label="Model B", height=380, elem_id="arena-b")
    with gr.Row():
        buttons = [gr.Button(label, interactive=False, elem_classes=["vote-button"]) for label in VOTES]
    reveal = gr.Markdown(elem_id="arena-reveal")

    turn_inputs = [textbox, battle_id, chat_a, chat_b, voter_key, name]
    turn_outputs = [battle_id, chat_a, chat_b, textbox, status, *buttons]
    events = [
        send.click(battle_turn, turn_inputs, turn_outputs, api_name="arena_send"),
        textbox.submit(battle_turn, turn_inputs, turn_outputs, api_visibility="private"),
    ]
    stop.click(None, None, None, cancels=events, api_visibility="private")
    vote_outputs = [reveal, status, *buttons, textbox, send]
    votes = []
    for label, button in zip(VOTES, buttons, strict=True):
        def vote(battle, key, who, request: gr.Request | None = None, profile: gr.OAuthProfile | None = None,
                 _choice=label):
            return cast_vote(_choice, battle, key, who, request, profile)

        api = "arena_vote_" + label.split()[0].lower()  # arena_vote_a, _b, _tie, _both
        votes.append(button.click(vote, [battle_id, voter_key, name], vote_outputs, api_name=api,
                                  concurrency_limit=None))
    new_round_button.click(new_round, None, [battle_id, chat_a, chat_b, status, reveal, *buttons, textbox, send],
                           api_name="arena_new_round")
    suggest_button.click(suggest, None, textbox, api_visibility="private")

    # The board is computed when the panel opens and, while it is open, after each vote — not for every
    # page load or every vote of every visitor.
    board_open = gr.State(False)
    with gr.Accordion("Leaderboard", open=False) as panel:
        board, with_style = leaderboard_view.build_leaderboard()
    panel.expand(lambda: True, None, board_open, api_visibility="private").then(
        leaderboard_view.refresh, with_style, board, api_visibility="private")
    panel.collapse(lambda: False, None, board_open, api_visibility="private")

    def after_vote(is_open: bool, style: bool) -> list:
        return leaderboard_view.refresh(style) if is_open else [gr.skip()] * len(board)

    for event in votes:
        event.then(after_vote, [board_open, with_style], board, api_visibility="private")

    with gr.Accordion("Voter quality (admins)", open=False), admin_section(app, "Checking voters"):
        check_button = gr.Button("Check voters", size="sm")
        voter_note = gr.Markdown()
        voter_rows = gr.Dataframe(headers=leaderboard_view.VOTER_COLUMNS, interactive=False, wrap=True,
                                  label="Voters, most suspect first")

    def check_voters() -> tuple[str, list[list]]:
        rows, note = leaderboard_view.voter_table()
        return note, rows

    check_button.click(admin_only(check_voters), None, [voter_note, voter_rows], api_name="check_voters")
