"""The Evaluate tab: run variants over the golden questions, score them, and read the results.

A run is a job (``travelbot.jobs``): a child process that records its progress in the store, so the page polls
it, and closing the page or restarting the server does not lose it.
"""

from __future__ import annotations

import html
import math
import tempfile
from dataclasses import replace
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go

from travelbot import jobs
from travelbot.chat import reply_length
from travelbot.config import get_settings
from travelbot.errors import TravelbotError
from travelbot.evaluation import results as eval_results
from travelbot.evaluation.run import EvalConfig, reconcile_runs, submit_evaluation
from travelbot.evaluation.scorers import LIGHT_SCORERS, SCORER_NAMES, SCORERS
from travelbot.format import interval, judge_usage
from travelbot.models import get_registry
from travelbot.ui.admin import admin_only, admin_section
from travelbot.ui.common import default_pair, error_note, variant_choices

METRIC_COLUMNS = ["variant", "metric", "mean", "95% interval", "n", "missing"]
PAIR_COLUMNS = ["variant A", "variant B", "judged", "A wins", "B wins", "ties", "inconsistent", "missing",
                "A win rate", "95% interval"]
DEFAULT_SECONDS_PER_ANSWER = 2.9  # a 256-token answer of the embedded model, batched on llama.cpp on a 2-core CPU,
# before any run (travelbot bench eval: 20,242 tokens in 225 s); the estimate takes every answer at its full
# length, an upper bound: answers that stop early cost less


def estimate(variants: list[str] | None, split: str, limit: float | None, max_new_tokens: float) -> str:
    """Before a run: how many answers it generates and about how long that takes here (from earlier runs'
    seconds per answer, scaled to the chosen length; answers already cached cost nothing)."""
    from travelbot.data.golden import load_golden

    try:
        questions, _ = load_golden(split=None if split == "all" else split)
    except TravelbotError as exc:
        return error_note(str(exc))
    n = len(questions) if not limit or math.isnan(limit) or limit <= 0 else min(int(limit), len(questions))
    answers = n * len(variants or [])
    per_token = eval_results.seconds_per_token() or DEFAULT_SECONDS_PER_ANSWER / 256
    tokens = sum(_length(name, max_new_tokens) for name in variants or [])  # one answer per variant, at most
    minutes = n * per_token * tokens / 60
    when = f"at most about {minutes:.0f} min" if minutes >= 1 else "under a minute"
    count = len(variants or [])
    return (f"{n} questions × {count} variant{'' if count == 1 else 's'} = {answers} answers to generate, {when} on this "
            "machine (answers cached by earlier runs are reused, so re-runs are quicker).")


def _length(variant: str, max_new_tokens: float | None) -> int:
    """The most new tokens a variant's answer may take in a run: the run's setting, else the server's, else the
    variant's own."""
    requested = int(max_new_tokens) if max_new_tokens and not math.isnan(max_new_tokens) else 0
    try:
        return reply_length(get_registry().variant(variant), requested or get_settings().max_new_tokens)
    except TravelbotError:
        return requested or 256


def _run_choices() -> list[tuple[str, int]]:
    return [(f"run {r['id']} · {r['status']} · {r['split']} · {', '.join(r['variants'])[:60]}", r["id"])
            for r in eval_results.runs()]


def start(variants: list[str], split: str, scorers: list[str], limit: float | None, max_new_tokens: float,
          judge_model: str, judge_base_url: str, judge_key: str) -> tuple:
    """Queue a run as a job; returns (status, job id state)."""
    config = EvalConfig(list(variants or []), list(scorers or []), split,
                        int(limit) if limit and not math.isnan(limit) and limit > 0 else None,
                        {"max_new_tokens": int(max_new_tokens)} if max_new_tokens and max_new_tokens > 0 else {})
    try:
        judged = judge_settings(judge_model, judge_base_url, judge_key)
        job = jobs.get_job(submit_evaluation(config, judge_environment(judged), judged))
    except TravelbotError as exc:
        return error_note(str(exc)), None
    return f"Job {job['id']} {job['status']}: {job['name']}.", job["id"]


def judge_settings(model: str, base_url: str, key: str, settings=None):
    """The settings with the judge typed on the page. The server's own key goes only to the judge server the
    server's configuration names; a different URL typed here is sent the key typed with it, or none."""
    settings = settings or get_settings()
    judge = settings.judge
    model, base_url, key = (model or "").strip(), (base_url or "").strip(), (key or "").strip()
    configured = judge.base_url or settings.openai_base_url or ""
    if model:
        judge = replace(judge, model=model)
    if base_url and base_url.rstrip("/") != configured.rstrip("/"):
        judge = replace(judge, base_url=base_url, api_key=None)
        settings = replace(settings, openai_api_key=None)
    if key:
        judge = replace(judge, api_key=key)
    return replace(settings, judge=judge)


def judge_environment(judged) -> dict[str, str | None]:
    """The judge of ``judged`` (from :func:`judge_settings`) as the environment of the run's process (None unsets
    a variable): the judge's variables, and the server's key unset when it must not go to the typed server."""
    environment = judged.judge.environment()
    if not judged.openai_api_key:
        environment["OPENAI_API_KEY"] = None
    return environment


def stop(job_id: int | None) -> str:
    if not job_id:
        return "No run of this page is running."
    try:
        job = jobs.cancel_job(int(job_id))
    except TravelbotError as exc:
        return error_note(str(exc))
    return f"Stopped job {job['id']}; the answers and scores it computed are kept, and a re-run reuses them."


def run_of(job: dict) -> int | None:
    """The evaluation run a job is working on (known once its process has started it)."""
    return (job.get("metrics") or {}).get("run_id") or (job.get("last_progress") or {}).get("run_id")


def progress_html(job_id: int | None) -> str:
    """A progress bar for the job's run, or where the job stands before its run starts (empty when none)."""
    if not job_id:
        return ""
    try:
        jobs.reconcile()
        job = jobs.get_job(job_id)
    except TravelbotError as exc:
        return error_note(str(exc))
    run_id = run_of(job)
    run = next((r for r in eval_results.runs() if r["id"] == run_id), None) if run_id else None
    p = (run or {}).get("progress") or {}
    done, total = int(p.get("done", 0)), max(int(p.get("total", 0)), 1)
    if job["status"] == "queued":
        holder = jobs.waiting_for(job)
        label = (f"Job {job['id']} queued behind {jobs.KIND_LABELS[holder['kind']]} job {holder['id']} "
                 f"({holder['name']})" if holder else f"Job {job['id']} queued")
    elif run is None:
        label = f"Job {job['id']}: {job['status']}" + (" — loading the models…" if job["status"] == "running" else "")
    else:
        label = f"Job {job['id']} · run {run_id}: {job['status']} — {p.get('what', 'starting…')}"
    if job.get("error"):
        label += f" — {job['error']}"
    return (f'<div id="eval-progress" data-status="{job["status"]}"><progress value="{done}" max="{total}" '
            f'style="width:100%"></progress><div>{html.escape(label)}</div></div>')


def latency_plot(results: eval_results.RunResults) -> go.Figure:
    figure = go.Figure()
    for variant, seconds in results.latencies().items():
        figure.add_trace(go.Box(y=seconds, name=variant, boxpoints="all", jitter=0.3))
    batch = {a.get("batch_size") for a in results.answers} if results.answers else set()
    figure.update_layout(title="Seconds per answer" + (" (its share of a batch's time)" if batch != {1} else ""),
                         yaxis_title="seconds", showlegend=False)
    return figure


def show(run_id: int | None) -> list:
    """Tables, box plot, question choices and downloads of a run."""
    empty = [[], [], go.Figure(), gr.Dropdown(choices=[], value=None), None, None, ""]
    if not run_id:
        return empty
    try:
        results = eval_results.run_results(int(run_id))
    except TravelbotError as exc:
        return [*empty[:-1], error_note(str(exc))]
    metrics = [[m.variant, m.metric, m.mean, interval(m.lower, m.upper), m.n,
                m.missing if not m.missing else f"{m.missing} ({', '.join(f'{k}: {v}' for k, v in m.missing_reasons.items())})"]
               for m in results.metrics]
    pairs = [[p.variant_a, p.variant_b, p.judged, p.wins_a, p.wins_b, p.ties, p.inconsistent, p.missing,
              p.win_rate_a, interval(p.lower, p.upper)] for p in results.pairs]
    questions = list(dict.fromkeys((a["question_id"], a["question"]) for a in results.answers))
    folder = Path(tempfile.gettempdir()) / "travelbot-exports"  # one file per run and format, overwritten
    folder.mkdir(exist_ok=True)
    csv_path, jsonl_path = folder / f"run-{int(run_id)}.csv", folder / f"run-{int(run_id)}.jsonl"
    for path, export in ((csv_path, results.to_csv()), (jsonl_path, results.to_jsonl())):
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, delete=False) as partial:
            partial.write(export)  # then renamed, so a download under way never reads half a file
        Path(partial.name).replace(path)
    usage = results.run.get("usage") or {}
    note = (f"Run {run_id}: {results.run['status']}, split {results.run['split']}, {len(results.answers)} answers. "
            "Means with 95% bootstrap intervals over questions; missing = scores that could not be computed.")
    if usage:
        note += f" Judge: {judge_usage(usage)}."
    if results.run.get("backends"):
        note += " Answered by " + ", ".join(f"{v} on {b}" for v, b in results.run["backends"].items()) + "."
    return [metrics, pairs, gr.Plot(latency_plot(results), visible=True),
            gr.Dropdown(choices=[(f"{qid} · {q[:70]}", qid) for qid, q in questions],
                        value=questions[0][0] if questions else None),
            str(csv_path), str(jsonl_path), note]


def drill_down(run_id: int | None, question_id: str | None) -> str:
    """One question: the golden answer, each variant's answer with its scores, reasoning and passages."""
    if not run_id or not question_id:
        return ""
    try:
        results = eval_results.run_results(int(run_id), summarise=False)
    except TravelbotError as exc:
        return error_note(str(exc))
    answers = [a for a in results.answers if a["question_id"] == question_id]
    if not answers:
        return ""
    parts = [f"### {answers[0]['question']}", f"**Golden answer.** {answers[0]['golden'] or '—'}"]
    for a in answers:
        scores = ", ".join(f"{m} {s['value']:.3f}" if s["value"] is not None else f"{m} missing ({s['missing']})"
                           for m, s in sorted(a["scores"].items()))
        parts.append(f"---\n#### {a['variant']} ({a['method']}) · {a['seconds']:.2f} s · "
                     f"{a['completion_tokens']} tokens\n\n{a['answer'] or '*(empty)*'}"
                     + (f"\n\n⚠️ {a['error']}" if a["error"] else "") + f"\n\n<sub>{scores}</sub>")
        reasoning = next((s["detail"].get("reasoning") for s in a["scores"].values()
                          if s.get("detail", {}).get("reasoning")), None)
        if reasoning:
            text = "\n".join(f"- **{k}**: {v}" for k, v in reasoning.items()) if isinstance(reasoning, dict) \
                else str(reasoning)
            parts.append(f"<details><summary>Judge reasoning</summary>\n\n{text}\n\n</details>")
        if a["contexts"]:
            parts.append("<details><summary>Retrieved passages</summary>\n\n"
                         + "\n\n".join(f"> {c[:400]}" for c in a["contexts"]) + "\n\n</details>")
    for v in results.verdicts:
        if v["question_id"] == question_id:
            why = " / ".join(r for r in v["detail"].get("reasoning", []) if r)
            parts.append(f"**Pairwise judge** {v['variant_a']} vs {v['variant_b']}: "
                         f"{v['winner'] or 'missing (' + str(v['missing']) + ')'}"
                         f"{' (orders disagreed → tie)' if v['consistent'] is False else ''}. {why[:600]}")
    return "\n\n".join(parts)


def build(app: gr.Blocks, tab: gr.Tab | None = None) -> None:
    """Lay out the Evaluate tab inside the current Blocks context; its results load when ``tab`` is opened
    (or with the page, when built without a tab)."""
    from travelbot.evaluation.metrics import available_scorers

    settings = get_settings()
    available = available_scorers()
    choices = variant_choices()
    gr.Markdown("Answer the golden questions with each chosen variant and score the answers. Answers and "
                "scores are cached, so a re-run only computes what changed. LLM scorers need a judge endpoint.")
    with gr.Row():
        variants = gr.Dropdown(choices, value=default_pair(choices), multiselect=True, allow_custom_value=True,
                               label="Variants", scale=3)
        split = gr.Radio(["dev", "test", "all"], value="dev", label="Golden split", scale=1)
    scorer_choices = [(SCORERS[n].label + (f" — {available[n]}" if available.get(n) else ""), n) for n in SCORER_NAMES]
    # A light first run: lexical overlap and embedding similarity, seconds per answer; BERTScore, METEOR and
    # the LLM scorers are a tick away.
    scorers = gr.CheckboxGroup(scorer_choices, value=[n for n in LIGHT_SCORERS if not available.get(n)],
                               label="Scorers")
    with gr.Row():
        limit = gr.Number(value=0, precision=0, minimum=0, label="Only the first N questions (0 = all)")
        max_new_tokens = gr.Slider(0, 1024, value=0, step=16, label="Max new tokens (0 = each variant's own)",
                                   info="RAFT-format variants need room for their quotes before the final answer.")
    with gr.Accordion("Judge endpoint (Ragas and the LLM judge)", open=False):
        judge_model = gr.Textbox(value=settings.judge.model, label="Model (e.g. gpt-4o)")
        judge_base_url = gr.Textbox(value=settings.judge.base_url or "",
                                    label="Base URL of an OpenAI-compatible server (blank = OpenAI)")
        judge_key = gr.Textbox(type="password", label="API key (blank = the server's own key, which is only ever "
                               "sent to the server's configured judge URL)")
    with admin_section(app, "Running evaluations"), gr.Row():
        run_button = gr.Button("Run", variant="primary")
        stop_button = gr.Button("Stop", variant="stop")
    cost = gr.Markdown(estimate(default_pair(choices), "dev", 0, 0), elem_id="eval-estimate")
    status = gr.Markdown(elem_id="eval-status")
    progress = gr.HTML()
    job_id = gr.State(None)
    timer = gr.Timer(1.0, active=False)  # polls the progress while a run started here is going

    gr.Markdown("### Results")
    with gr.Row():
        run_picker = gr.Dropdown([], value=None, label="Run", scale=4, allow_custom_value=True)
        refresh = gr.Button("↻ Refresh", size="sm", scale=1)
    note = gr.Markdown()
    metric_table = gr.Dataframe(headers=METRIC_COLUMNS, interactive=False, label="Per variant and metric")
    pair_table = gr.Dataframe(headers=PAIR_COLUMNS, interactive=False, label="Pairwise judge")
    latency = gr.Plot(label="Latency", visible=False)  # shown with a run's results, never empty
    with gr.Row():
        csv_file = gr.File(label="Scores (CSV)")
        jsonl_file = gr.File(label="Scores (JSONL)")
    question = gr.Dropdown([], label="Question (drill-down)")
    details = gr.Markdown(elem_id="eval-drill-down")

    run_button.click(admin_only(start), [variants, split, scorers, limit, max_new_tokens, judge_model, judge_base_url, judge_key],
                     [status, job_id], api_name="evaluate").then(
        lambda: gr.Timer(active=True), None, timer, api_visibility="private")
    stop_button.click(admin_only(stop), job_id, status, api_visibility="private")

    outputs = [metric_table, pair_table, latency, question, csv_file, jsonl_file, note]

    def tick(current: int | None, shown: int | None):
        html = progress_html(current)
        try:
            job = jobs.get_job(current) if current else None
        except TravelbotError:
            job = None
        if job is None or job["status"] in jobs.ACTIVE:
            return [html, gr.skip(), gr.skip(), *[gr.skip()] * len(outputs)]
        # Finished: stop polling, list the run with its final status and show its final tables — directly
        # when it is already the picked run, else through the picker's change event.
        reconcile_runs()  # a run whose process was killed reads as failed, not running
        run_id = run_of(job)
        picker = gr.Dropdown(choices=_run_choices(), value=run_id) if run_id else gr.skip()
        tables = show(run_id) if run_id and shown == run_id else [gr.skip()] * len(outputs)
        return [progress_html(current), picker, gr.Timer(active=False), *tables]

    timer.tick(tick, [job_id, run_picker], [progress, run_picker, timer, *outputs], api_visibility="private",
               show_progress="hidden")
    # Setting the run (by a person, by opening the tab or by a finished run) shows it, and setting the
    # question shows its drill-down: each through its own change event, so nothing is computed twice.
    run_picker.change(show, run_picker, outputs, api_name="evaluation_results")
    gr.on([variants.change, split.change, limit.change, max_new_tokens.change], estimate,
          [variants, split, limit, max_new_tokens], cost, api_visibility="private", show_progress="hidden")
    question.change(drill_down, [run_picker, question], details, api_name="evaluation_question")

    def newest() -> gr.Dropdown:
        choices = _run_choices()
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    def refreshed(current: int | None) -> list:
        """New runs in the list; the shown run's tables again (it may still be running)."""
        choices = _run_choices()
        value = current if current is not None else (choices[0][1] if choices else None)
        return [gr.Dropdown(choices=choices, value=value), *show(value)]

    (tab.select if tab is not None else app.load)(newest, None, run_picker, api_visibility="private")
    refresh.click(refreshed, run_picker, [run_picker, *outputs], api_visibility="private")
