"""The Rate tab: score one anonymous answer at a time, 1–5, on the study's criteria."""

from __future__ import annotations

import gradio as gr

from travelbot.config import get_settings
from travelbot.errors import TravelbotError
from travelbot.feedback.ratings import OVERALL, RATED, next_item, rated_count, record_rating
from travelbot.ui.common import error_note, identity_note, voter_for

QUESTIONS = {
    "relevance": "Relevance — does it address the question asked?",
    "helpfulness": "Helpfulness — would it help a traveller act?",
    "correctness": "Correctness — are the facts right?",
    "coherence": "Coherence — is it clear and well organised?",
    "conciseness": "Conciseness — is it free of padding and repetition?",
    OVERALL: "Overall",
}
SCALE = ["1", "2", "3", "4", "5"]
NOTHING_LEFT_EVALUATION = ("No evaluation answer is waiting for your rating: run an evaluation (Evaluate tab) to "
                           "make some, or untick the box to rate chat answers.")
NOTHING_LEFT = "Nothing left to rate right now — thank you! New answers appear as people chat and battle."


def _form(question: str, answer: str, item_id: str | None, status: str) -> list:
    return [item_id, question, answer, *[None] * len(RATED), "", status,
            gr.Button(interactive=item_id is not None)]


def next_answer(voter_key: str, name: str, evaluation_only: bool = False, request: gr.Request | None = None,
                profile: gr.OAuthProfile | None = None) -> list:
    """The next answer for this rater; returns [item id, question, answer, *scores, comment, status, submit]."""
    try:
        rater = voter_for(voter_key, name, request, profile)
        item = next_item(rater, evaluation_only=bool(evaluation_only))
        done = rated_count(rater)
    except TravelbotError as exc:
        return _form("", "", None, error_note(str(exc)))
    if item is None:
        return _form("", "", None, NOTHING_LEFT_EVALUATION if evaluation_only else NOTHING_LEFT)
    overlap = get_settings().rating_overlap
    return _form(item.question, item.answer, item.item_id,
                 f"You have rated {done} answer{'' if done == 1 else 's'}. Each answer is rated by up to {overlap} people; "
                 "you never see their scores.")


def submit_rating(item_id: str | None, relevance: str | None, helpfulness: str | None, correctness: str | None,
                  coherence: str | None, conciseness: str | None, overall: str | None, comment: str,
                  voter_key: str, name: str, evaluation_only: bool = False, request: gr.Request | None = None,
                  profile: gr.OAuthProfile | None = None) -> list:
    """Store the scores, then show the next answer."""
    scores = [relevance, helpfulness, correctness, coherence, conciseness, overall]
    try:
        rater = voter_for(voter_key, name, request, profile)
        if not item_id:
            raise TravelbotError("There is no answer to rate; press “Next answer”.")
        record_rating(item_id, dict(zip(RATED, scores, strict=True)), rater, comment)
    except TravelbotError as exc:
        keep = [gr.skip()] * (3 + len(scores) + 1)  # the answer, the scores and the comment stay as typed
        return [*keep, error_note(str(exc)), gr.skip()]
    return next_answer(voter_key, name, evaluation_only, request, profile)


def answer_if_empty(item_id: str | None, voter_key: str, name: str, evaluation_only: bool = False,
                    request: gr.Request | None = None, profile: gr.OAuthProfile | None = None) -> list:
    """When the tab opens: the next answer, unless one is already on the form."""
    if item_id:
        return [gr.skip()] * (3 + len(RATED) + 3)
    return next_answer(voter_key, name, evaluation_only, request, profile)


def build(app: gr.Blocks, voter_key: gr.BrowserState, tab: gr.Tab | None = None) -> None:
    """Lay out the Rate tab inside the current Blocks context; opening ``tab`` loads an answer to rate."""
    gr.Markdown("Read the question and the answer, then score the answer from 1 (poor) to 5 (excellent). "
                "You are not told which variant wrote it. Leave a criterion blank if you cannot judge it.")
    gr.Markdown(identity_note())
    name = gr.Textbox(label="Your name (optional)", max_length=80)
    evaluation_only = gr.Checkbox(label="Only answers to golden questions from evaluation runs — the ratings that "
                                        "the Agreement tab sets beside the metrics", value=False)
    item_id = gr.State(None)
    # Plain text, never Markdown: a typed question (or an answer) could hold an image that every rater's
    # browser would fetch from wherever it points.
    question = gr.Textbox(label="Question", interactive=False, elem_id="rate-question", lines=1, max_lines=8)
    answer = gr.Textbox(label="Answer", interactive=False, elem_id="rate-answer", lines=4, max_lines=30,
                        elem_classes=["compare-panel"])
    radios = [gr.Radio(SCALE, label=QUESTIONS[c], elem_classes=["rate-scale"]) for c in RATED]
    comment = gr.Textbox(label="Comment (optional)", lines=2, max_length=2000)
    with gr.Row():
        submit = gr.Button("Submit rating", variant="primary", interactive=False)
        skip = gr.Button("Next answer")
    status = gr.Markdown(elem_id="rate-status")

    outputs = [item_id, question, answer, *radios, comment, status, submit]
    skip.click(next_answer, [voter_key, name, evaluation_only], outputs, api_name="rate_next")
    submit.click(submit_rating, [item_id, *radios, comment, voter_key, name, evaluation_only], outputs,
                 api_name="rate_submit")
    evaluation_only.input(next_answer, [voter_key, name, evaluation_only], outputs, api_visibility="private")
    if tab is not None:
        tab.select(answer_if_empty, [item_id, voter_key, name, evaluation_only], outputs, api_visibility="private")
