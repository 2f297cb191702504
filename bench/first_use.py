"""First use, as a newcomer meets it: a fresh data home, `travelbot serve`, Chromium. Prints JSON.

    python bench/first_use.py [--question "..."] [--raft-variant smollm2-raft] [--chromium /usr/bin/chromium]

Times, in seconds from the server's start: the page answering HTTP, the Chat tab usable (its question box
visible), then the first answer of the RAFT variant, asked the moment the page allows (the cold path: base,
adapter and the guides' index), then one of the default variant. For each answer: its first text on the page
(``loading_s``: a loading message or anything else), its first answer text (``first_text_s``) and its footer
(``done_s``). ``raft_text_after_usable_s`` and ``raft_answer_after_usable_s`` count from the page being usable.
Nothing is asserted; run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

QUESTION = "Which neighbourhoods are good to stay in Mexico City?"
BOT = "[role=log] [data-testid=bot]"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"nothing after {timeout:.0f} s")


def answer_times(page, started: float, question: str, timeout: float) -> dict[str, float | str]:
    """Send ``question`` in the Chat tab; times of the first loading text, first answer text and footer."""
    before = page.locator(BOT).count()
    page.get_by_placeholder("Ask a travel question…").fill(question)
    sent = time.monotonic()
    page.get_by_role("button", name="Send", exact=True).click()
    answer = page.locator(BOT).nth(before)
    seen: dict[str, float | str] = {}

    def progressed() -> bool:
        if page.locator(BOT).count() <= before:
            return False
        text = answer.inner_text().strip()
        if text and text != "…" and "loading_s" not in seen:
            seen["loading_s"] = time.monotonic() - started
        if text and text != "…" and "loading" not in text.lower() and "first_text_s" not in seen:
            seen["first_text_s"] = time.monotonic() - started
        return answer.locator("sub").count() > 0 and "tok/s" in answer.locator("sub").inner_text()

    wait_for(progressed, timeout)
    seen["done_s"] = time.monotonic() - started
    seen["sent_at_s"] = sent - started
    seen["answer"] = answer.inner_text()[:400]
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in seen.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--raft-variant", default="smollm2-raft")
    parser.add_argument("--chromium", default=os.environ.get("TRAVELBOT_CHROMIUM") or shutil.which("chromium"))
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="travelbot-first-use-"))
    port = free_port()
    env = {**os.environ, "TRAVELBOT_HOME": str(home), "OMP_WAIT_POLICY": "PASSIVE"}
    log = open(home / "server.log", "w")  # noqa: SIM115 — open for the server's whole life
    started = time.monotonic()
    server = subprocess.Popen([sys.executable, "-m", "travelbot", "serve", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    figures: dict[str, object] = {"home": str(home), "question": args.question}
    try:
        def answers_http() -> bool:
            try:
                urllib.request.urlopen(url, timeout=2)
                return True
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError((home / "server.log").read_text()[-2000:]) from None
                return False

        wait_for(answers_http, args.timeout, poll=0.2)
        figures["http_s"] = round(time.monotonic() - started, 2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.get_by_placeholder("Ask a travel question…").wait_for(timeout=args.timeout * 1000)
            usable = time.monotonic() - started
            figures["page_usable_s"] = round(usable, 2)
            default = page.get_by_label("Variant").input_value().split(" · ")[0]  # "name · method" -> name
            # The RAFT variant first, the moment the page allows: the cold path (base, adapter, guides' index).
            page.get_by_label("Variant").click()
            page.get_by_role("option", name=args.raft_variant).first.click()
            page.get_by_text(f"{args.raft_variant} — method").first.wait_for(timeout=30_000)
            raft = answer_times(page, started, args.question, args.timeout)
            figures["first_raft_answer"] = {"variant": args.raft_variant, **raft}
            page.get_by_label("Variant").click()
            page.get_by_role("option", name=default).first.click()
            page.get_by_text(f"{default} — method").first.wait_for(timeout=30_000)
            wait_for(lambda: page.locator(BOT).count() == 0, 30)  # a new variant starts a new conversation
            try:
                figures["then_default_answer"] = {"variant": default,
                                                  **answer_times(page, started, args.question, args.timeout)}
            except TimeoutError as exc:  # the RAFT figures above still stand
                figures["then_default_answer"] = {"variant": default, "error": str(exc)}
            browser.close()
        figures["raft_text_after_usable_s"] = round(float(raft.get("loading_s", raft["done_s"])) - usable, 2)
        figures["raft_answer_after_usable_s"] = round(float(raft.get("first_text_s", raft["done_s"])) - usable, 2)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
