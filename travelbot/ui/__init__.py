"""The Gradio dashboard: a header and one tab per capability, each built by its own module."""

from __future__ import annotations

import gradio as gr

from travelbot import __version__
from travelbot.analysis.judgments import import_bundled
from travelbot.chat import warm_up
from travelbot.config import ASSETS_DIR, get_settings
from travelbot.evaluation.run import reconcile_runs
from travelbot.hosting import check_sign_in, open_warning, start_mirroring, storage_warning
from travelbot.ui import (
    agreement_tab,
    arena_tab,
    chat_tab,
    compare_tab,
    data_tab,
    evaluate_tab,
    rate_tab,
    train_tab,
    verdict_tab,
)
from travelbot.ui.common import demo_note, new_browser_id

UPLOAD_CACHE = (900, 3600)  # (every, older than) seconds
TITLE = "travelbot — which fine-tuned travel chatbot serves people best?"
HEADER = f"""
# travelbot
**Find out which fine-tuned travel chatbot (QLoRA, RAFT, RLHF) serves people best, and which automatic metrics agree with them.**
Start in **Chat**: pick a variant and ask a travel question (or put one question to several, *side by side*).
**Verdict** says which variant to ship, with what confidence and at what cost, from everything below.
Vote blind in **Arena** and score single answers in **Rate**; **Evaluate** scores variants on golden
questions (BLEU, ROUGE, BERTScore, Ragas, an LLM judge); **Agreement** shows which metrics agree with people;
**Train** fine-tunes new variants; **Data** shows the corpus, golden questions and datasets. <sub>v{__version__}</sub>
"""


def build_app() -> gr.Blocks:
    """The whole dashboard as a Blocks app (not launched)."""
    # Uploaded and generated files are deleted from Gradio's cache an hour after they were made.
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=UPLOAD_CACHE) as app:
        gr.Markdown(HEADER, elem_id="header")
        settings = get_settings()
        for note, elem_id in ((demo_note(), "demo-note"), (storage_warning(settings), "storage-warning"),
                              (open_warning(settings), "open-warning")):
            if note:
                gr.Markdown(note, elem_id=elem_id)
        if settings.oauth_enabled:
            gr.LoginButton()
        # A random id kept in this browser's local storage: tells voters apart without an account.
        voter_key = gr.BrowserState("", storage_key="travelbot-voter")
        app.load(new_browser_id, voter_key, voter_key, api_visibility="private")
        tabs: dict[str, gr.Tab] = {}
        with gr.Tabs():
            with gr.Tab("Chat", id="chat") as tabs["chat"], gr.Tabs():
                with gr.Tab("One variant", id="chat-one"):
                    chat_tab.build(app)
                with gr.Tab("Side by side", id="compare"):
                    compare_tab.build(app)
            with gr.Tab("Verdict", id="verdict") as tabs["verdict"]:
                verdict_tab.build(app, tabs["verdict"])
            with gr.Tab("Arena", id="arena") as tabs["arena"]:
                arena_tab.build(app, voter_key)
            with gr.Tab("Rate", id="rate") as tabs["rate"]:
                rate_tab.build(app, voter_key, tabs["rate"])
            with gr.Tab("Evaluate", id="evaluate") as tabs["evaluate"]:
                evaluate_tab.build(app, tabs["evaluate"])
            with gr.Tab("Agreement", id="agreement") as tabs["agreement"]:
                agreement_tab.build(app, tabs["agreement"])
            with gr.Tab("Train", id="train") as tabs["train"]:
                timers = {"train": train_tab.build(app)}
            with gr.Tab("Data", id="data") as tabs["data"]:
                timers["data"] = data_tab.build(app)
        # Polling timers tick only while their tab is open, not in every open page.
        for name, tab in tabs.items():
            tab.select(lambda name=name: [gr.Timer(active=name == owner) for owner in timers], None,
                       list(timers.values()), api_visibility="private", show_progress="hidden")
    return app


def css() -> str:
    path = ASSETS_DIR / "style.css"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def launch(host: str | None = None, port: int | None = None, **kwargs) -> gr.Blocks:
    """Build and serve the dashboard on ``host``/``port``, else the configured ones; blocks until stopped
    unless ``prevent_thread_lock=True``, and returns the app.

    The address is kept in the settings first: who may use admin actions depends on it.
    """
    from dataclasses import replace

    from travelbot.config import set_settings

    settings = get_settings()
    settings = replace(settings, host=host or settings.host, port=port or settings.port)
    set_settings(settings)
    check_sign_in(settings)
    warm_up()  # first (unless `travelbot serve` started it before Gradio was imported): the models load
               # while the store is prepared and the page is built
    reconcile_runs()  # evaluation runs that died with the last server are marked failed
    import_bundled()  # a fresh data home starts with real human judgments (PandaLM's), for Agreement
    app = build_app()
    start_mirroring()
    app.queue(default_concurrency_limit=4)
    app.launch(server_name=settings.host, server_port=settings.port, css=css(), footer_links=["api"],
               max_file_size=f"{settings.max_upload_mb}mb", **kwargs)
    return app
