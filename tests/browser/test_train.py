"""Train in a real browser: a two-step QLoRA run on the CPU, its progress and its end."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import choose, expect, open_tab, record_texts, recorded_texts, shoot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# The smallest real run: 2 steps of batch 1 on 64-token rows of the tiny dataset build, in full precision,
# one evaluation row, and no before/after comparison on golden questions.
ADVANCED = "max_length=64\neval_samples=1\neval_steps=100\nbehaviour_questions=0"


def test_a_cpu_demo_run_shows_progress_and_finishes(page):
    open_tab(page, "Train")
    max_steps = page.get_by_label("Training steps", exact=True)
    if page.get_by_label("Preset", exact=True).input_value() != "cpu-demo":  # a GPU machine defaults to gpu-small
        choose(page, "Preset", "cpu-demo")
        expect(max_steps).to_have_value("12")
    expect(page.get_by_label("Method", exact=True)).to_have_value("qlora")
    expect(page.get_by_label("Dataset", exact=True)).to_have_value(re.compile(r"newest \(browser-tiny\)"))
    page.get_by_label("Run name", exact=True).fill("browser-qlora")
    for label, value in (("Training steps", "2"), ("Examples per step", "1")):
        field = page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Tab")
    page.get_by_role("button", name=re.compile(r"^Advanced")).click()
    page.get_by_label("Base in 4-bit NF4 (QLoRA; slow on a CPU)").uncheck()
    page.get_by_label("Other settings, one key=value per line").fill(ADVANCED)
    # The preview is the command the form will run: it follows every field.
    preview = page.get_by_text("Equivalent command:").locator("xpath=..")
    for setting in ("--name browser-qlora", "max_steps=2", "per_device_train_batch_size=1", "load_in_4bit=false",
                    "max_length=64", "behaviour_questions=0"):
        expect(preview).to_contain_text(setting)

    record_texts(page, ".train-progress")
    page.get_by_role("button", name="Start training", exact=True).click()
    expect(page.get_by_text(re.compile(r"Started job \d+ \(browser-qlora\) on the (CPU|GPU)"))).to_be_visible()
    bar = page.locator(".train-progress:visible")
    expect(bar).to_contain_text(re.compile(r"failed|succeeded · step 2/2 · 100%"), timeout=90_000)
    shoot(page, "train-run")
    expect(bar).to_contain_text("succeeded · step 2/2 · 100%")
    shown = recorded_texts(page)
    assert any(t.startswith("running") for t in shown), f"no progress was shown while it ran: {shown}"
    expect(page.get_by_text(re.compile(r"Job \d+ · browser-qlora · qlora · preset cpu-demo"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"loss \d+\.\d{4}")).first).to_be_visible()
    expect(page.locator(".js-plotly-plot:visible")).to_have_count(1)  # the loss curve
    jobs = page.locator(".block", has=page.get_by_text("Jobs", exact=True)).last
    expect(jobs).to_contain_text("browser-qlora")
    expect(jobs).to_contain_text("succeeded")
