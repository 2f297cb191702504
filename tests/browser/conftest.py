"""The dashboard in a real browser: ``travelbot serve`` in a subprocess, driven by Playwright through the
system's chromium (Playwright's own browser download is not used).

    OMP_WAIT_POLICY=PASSIVE python -m pytest -q tests/browser -x

Without chromium (``apt-get install chromium``; another binary through ``TRAVELBOT_CHROMIUM``) or without
Playwright the tests skip and say why. Screenshots go to ``$TRAVELBOT_ARTIFACTS/screenshots/`` (default
``artifacts/screenshots/`` in the repository), with one of the page for every test that fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import served_app

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips every test and says why
    expect = None

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TRAVELBOT_ARTIFACTS") or REPO / "artifacts")
SCREENSHOTS = ARTIFACTS / "screenshots"
MAX_NEW_TOKENS = 32  # the server's default answer length: short, so the CPU suite stays quick
ARENA_PAIR = ("smollm2-135m", "smollm2-qlora")  # the only variants the arena draws (no retrieval index to build)
GENERATION_MS = 120_000  # the longest wait for an answer (the first one also loads the model)
FOOTER = re.compile(r"(\S+) · base (\S+) · \d+ tokens · [\d.]+ tok/s")


def chromium_path() -> str | None:
    """Debian's chromium (or ``TRAVELBOT_CHROMIUM``), when installed."""
    for candidate in (os.environ.get("TRAVELBOT_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium",
                      shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


# ---------------------------------------------------------------- the server


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def tiny_dataset(datasets: Path) -> Path:
    """A small but complete dataset build marked newest, so a training run need not build the real one
    (about four minutes on two cores)."""
    out = datasets / "browser-tiny"
    qa = [("When should I visit Kyoto?", "Early April for cherry blossoms or late November for autumn leaves."),
          ("How do I get from Lisbon airport to the centre?", "Take the red metro line; it takes about 25 minutes."),
          ("Is tap water safe in Mexico City?", "No; drink bottled or filtered water."),
          ("What should I eat in Rome?", "Try cacio e pepe, carbonara and supplì.")] * 2
    rows = {
        "sft": [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in qa],
        "raft": [{"messages": [{"role": "user", "content": f"<DOCUMENT>Guide\n{a}</DOCUMENT>\n\nQuestion: {q}"},
                               {"role": "assistant", "content": f"##Reason: ##begin_quote## {a} ##end_quote##\n\n"
                                                                f"<ANSWER>: {a}"}], "question": q} for q, a in qa],
        "preferences": [{"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": a}],
                         "rejected": [{"role": "assistant", "content": "Not sure, ask someone else."}]} for q, a in qa],
    }
    datasets_entry = {}
    for name, data in rows.items():
        _write_jsonl(out / name / "train.jsonl", data)
        _write_jsonl(out / name / "heldout.jsonl", data[:2])
        datasets_entry[name] = {"train": {"rows": len(data), "file": f"{name}/train.jsonl"},
                                "heldout": {"rows": 2, "file": f"{name}/heldout.jsonl"}}
    manifest = {"build_id": "browser-tiny", "created_at": "2026-01-01T00:00:00+00:00", "datasets": datasets_entry,
                "notes": ["A tiny build written by the browser tests."], "leakage": {}, "out": str(out)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    (datasets / "LATEST").write_text(str(out), encoding="utf-8")
    return out


@pytest.fixture(scope="package")
def server_home(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served app's own data home; its converted base weights are the test session's (``home/bases``),
    so the embedded model is converted once whichever process needs it first."""
    path = tmp_path_factory.mktemp("browser-home")
    shared = home / "bases"
    shared.mkdir(exist_ok=True)
    (path / "bases").symlink_to(shared, target_is_directory=True)
    tiny_dataset(path / "data" / "datasets")
    return path


@pytest.fixture(scope="package")
def server_env(server_home: Path) -> dict[str, str]:
    # This machine's device and back-end choice are kept; every other setting is the tests' own.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRAVELBOT_", "OPENAI_")) or k in ("TRAVELBOT_DEVICE", "TRAVELBOT_BACKEND")}
    return {**env, "TRAVELBOT_HOME": str(server_home), "TRAVELBOT_MAX_NEW_TOKENS": str(MAX_NEW_TOKENS),
            "TRAVELBOT_ARENA_WEIGHTS": "*=0," + ",".join(f"{name}=1" for name in ARENA_PAIR),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}


@pytest.fixture(scope="package")
def app_url(server_home: Path, server_env: dict[str, str]) -> Iterator[str]:
    """``travelbot serve`` on a free port, for all the browser tests."""
    log_path = server_home / "server.log"
    with served_app(server_env, log_path, cwd=REPO) as url:
        yield url
        cancel_unfinished_jobs(url, server_home)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log_path, ARTIFACTS / "browser-server.log")


def cancel_unfinished_jobs(url: str, server_home: Path) -> None:
    """Training runs outlive the server by design: cancel (through the app) any a failed test left going."""
    from travelbot.store import Store

    store = Store(f"sqlite:///{(server_home / 'travelbot.db').resolve()}")
    try:
        unfinished = store.jobs(status=("queued", "running"))
    finally:
        store.close()
    if unfinished:
        from gradio_client import Client

        client = Client(url, verbose=False)
        for job in unfinished:
            client.predict(job=str(job["id"]), api_name="/cancel_training")


@pytest.fixture(scope="package")
def registered_variants(server_env: dict[str, str]):
    """A function returning the names the served app can chat with right now (``travelbot variants --json``)."""

    def names() -> list[str]:
        out = subprocess.run([sys.executable, "-m", "travelbot", "variants", "--json"], env=server_env, cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
        return [v["name"] for v in json.loads(out)["variants"]]

    return names


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e '.[test]'")
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed (apt-get install chromium, or set TRAVELBOT_CHROMIUM to a "
                    "Chromium binary); the browser tests need it")
    from playwright.sync_api import sync_playwright

    for stale in SCREENSHOTS.glob("failed-*.png"):  # from an earlier run
        stale.unlink()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def open_app(browser, url: str, width: int = 1280, height: int = 900, init_script: str | None = None):
    """A fresh page (its own context: its own local storage, so its own voter id) with the app loaded;
    ``init_script`` runs in the page before the app's own scripts."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(30_000)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.goto(url)
    # The page's load events re-read the variants: the Chat tab's description shows once they ran.
    page.get_by_text(re.compile(r"— method \w+, base ")).first.wait_for()
    return page


def close_page(page, request: pytest.FixtureRequest) -> None:
    """Close a test's page: a screenshot when the test failed; when it passed, the page must show no
    traceback and no error pop-up (what a person can cause is answered with a sentence)."""
    report = getattr(request.node, "report_call", None)
    try:
        if report is not None and report.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"failed-{request.node.name}.png"), full_page=True)
        elif report is not None:
            assert "Traceback" not in page.content(), "the page shows a traceback"
            toasts = page.locator(".toast-body.error:visible")
            assert not toasts.count(), f"an error pop-up is showing: {toasts.all_inner_texts()}"
    finally:
        page.context.close()


@pytest.fixture
def page(browser, app_url: str, request: pytest.FixtureRequest) -> Iterator[object]:
    page = open_app(browser, app_url)
    yield page
    close_page(page, request)


# ---------------------------------------------------------------- what the tests do in a page


def open_tab(page, *names: str) -> None:
    """Click through tabs, e.g. ``open_tab(page, "Chat", "Side by side")``."""
    for name in names:
        tab = page.get_by_role("tab", name=name, exact=True)
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")


def choose(page, label: str, option: str | re.Pattern) -> None:
    """Pick an option of a Gradio dropdown: open it by its label, then click the option."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option).click()


def choose_variants(page, label: str, names: list[str]) -> None:
    """Make a multi-select variant dropdown hold exactly ``names``, in order (its chips read
    "name · method · base")."""
    field = page.get_by_label(label, exact=True)
    chips = page.locator(".block").filter(has=field).last.locator(".token")
    while chips.count():
        count = chips.count()
        chips.first.locator(".token-remove").click()
        expect(chips).to_have_count(count - 1)
    for name in names:
        field.click()
        page.get_by_role("option", name=re.compile(rf"^{re.escape(name)} · ")).click()
    field.press("Escape")
    expect(chips).to_have_count(len(names))
    for chip, name in zip(chips.all(), names, strict=True):
        expect(chip).to_contain_text(re.compile(rf"^{re.escape(name)} · "))


def record_texts(page, selector: str) -> None:
    """Start recording every distinct text the last element matching ``selector`` shows (read back with
    ``recorded_texts``): a MutationObserver, so no intermediate state is missed between polls."""
    page.evaluate(
        """(selector) => {
            window.__texts = [];
            const note = () => {
                const found = document.querySelectorAll(selector);
                const text = found.length ? found[found.length - 1].innerText.trim() : "";
                if (text && window.__texts[window.__texts.length - 1] !== text) window.__texts.push(text);
            };
            window.__observer && window.__observer.disconnect();
            window.__observer = new MutationObserver(note);
            window.__observer.observe(document.body, {childList: true, subtree: true, characterData: true});
        }""",
        selector,
    )


def recorded_texts(page) -> list[str]:
    return page.evaluate("() => window.__texts || []")


def ask(page, question: str) -> str:
    """Send a question in Chat → One variant and return the finished answer's text (with its footer)."""
    open_tab(page, "Chat", "One variant")
    answers = page.get_by_role("log").locator("[data-testid=bot]")
    count = answers.count()
    page.get_by_placeholder("Ask a travel question…").fill(question)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(answers).to_have_count(count + 1, timeout=GENERATION_MS)
    answers.nth(count).locator("sub", has_text="tok/s").wait_for(timeout=GENERATION_MS)
    return answers.nth(count).inner_text()


def shoot(page, name: str) -> Path:
    """A full-page screenshot in the artifacts folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# ---------------------------------------------------------------- a small evaluation, shared


@pytest.fixture(scope="package")
def small_evaluation(browser, app_url: str) -> dict:
    """One variant, the first 2 dev questions, BLEU and ROUGE: started and followed in the Evaluate tab.
    Returns what the page showed: the status line, the run's note and the results table's text."""
    page = open_app(browser, app_url)
    try:
        open_tab(page, "Evaluate")
        choose_variants(page, "Variants", ["smollm2-135m"])
        for label in ("BLEU", "ROUGE-1/2/L"):
            page.get_by_role("checkbox", name=label).check()
        for box in page.get_by_role("checkbox").all():
            name = box.evaluate("e => e.closest('label').innerText.trim()")
            if box.is_visible() and name not in ("BLEU", "ROUGE-1/2/L") and box.is_checked():
                box.uncheck()
        limit = page.get_by_label("Only the first N questions (0 = all)")
        limit.fill("2")
        limit.press("Tab")
        page.get_by_role("button", name="Run", exact=True).click()
        status = page.locator("#eval-status")
        expect(status).to_contain_text(re.compile(r"Job \d+ (running|queued): "))
        progress = page.locator("#eval-progress")
        expect(progress).to_contain_text(re.compile(r": (succeeded|failed|cancelled)"), timeout=GENERATION_MS)
        expect(progress).to_contain_text(": succeeded")
        table = page.locator(".block", has=page.get_by_text("Per variant and metric", exact=True)).last
        expect(table).to_contain_text("bleu", timeout=30_000)
        result = {"status": status.inner_text(), "progress": progress.inner_text(),
                  "note": page.get_by_text(re.compile(r"^Run \d+: succeeded, split")).inner_text(),
                  "table": table.inner_text()}
        shoot(page, "evaluate-run")
        return result
    finally:
        page.context.close()
