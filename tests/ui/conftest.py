"""Serving one tab on its own for the UI tests."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import gradio as gr

from tests.conftest import free_port


@contextlib.contextmanager
def served_tab(build: Callable[[gr.Blocks], None]) -> Iterator[object]:
    """A Blocks app holding one tab, launched on a free loopback port, and a gradio_client for it."""
    from gradio_client import Client

    with gr.Blocks() as app:
        build(app)
    app.queue()
    app.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True)
    try:
        yield Client(app.local_url, verbose=False)
    finally:
        app.close()
