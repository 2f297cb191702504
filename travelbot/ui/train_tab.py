"""The Train tab: start a fine-tuning run from a form, watch its progress and loss curve, cancel it.

Runs are child processes (``travelbot.jobs``): this tab submits them, polls the store and each run's
JSONL log, and kills on Cancel, so closing the browser or restarting the server never stops a run.
"""

from __future__ import annotations

import html
import logging
import shlex
from datetime import datetime
from typing import Any

import gradio as gr

from travelbot import jobs
from travelbot.data.build import list_builds
from travelbot.errors import TravelbotError
from travelbot.models import get_registry
from travelbot.training.config import METHODS, TUNABLE, TrainConfig, list_presets, resolve_config, train_command
from travelbot.training.launch import submit_training
from travelbot.ui.admin import admin_only, admin_section
from travelbot.ui.common import error_note

log = logging.getLogger(__name__)

JOB_COLUMNS = ["id", "name", "method", "status", "step", "started (UTC)", "finished (UTC)"]
KEY_SETTINGS = ("max_steps", "learning_rate", "lora_r", "per_device_train_batch_size")
DEFAULT_START = "default"
NEWEST = "newest"
NO_GPU_NOTE = "No GPU here: CPU presets (cpu-demo) only."

def has_gpu() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


# ---------------------------------------------------------------- the form


def start_choices() -> list[tuple[str, str]]:
    """Where a run can start: the preset's default, any trainable base, or a variant's adapter (``--from``)."""
    choices = [("preset's default", DEFAULT_START)]
    try:
        registry = get_registry()
        bases = {name: b for name, b in registry.bases().items() if b.local}
        choices += [(f"base · {name}", f"base:{name}") for name in bases]
        for name, variant in registry.variants().items():
            if variant.adapter is not None and variant.base.name in bases:
                choices.append((f"variant · {name} · {variant.method} · base {variant.base.name}", f"variant:{name}"))
    except TravelbotError as exc:
        log.warning("%s", exc)
    return choices


def dataset_choices() -> list[tuple[str, str]]:
    builds = [m["build_id"] for m in list_builds()]
    return [(f"newest ({builds[0]})" if builds else "newest (built on first use)", NEWEST)] + [(b, b) for b in builds]


def parse_settings(text: str | None) -> dict[str, str]:
    """``key=value`` lines (blank lines and ``#`` comments ignored) into overrides for ``resolve_config``."""
    found: dict[str, str] = {}
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise TravelbotError(f"Write each advanced setting as key=value on its own line; line {number} is {raw!r}.")
        found[key.strip()] = value.strip()
    return found


def _dataset(dataset: str | None) -> str | None:
    """A build id or folder for ``--dataset`` (the trainer accepts both), None for the newest build."""
    return None if not dataset or dataset.strip() in ("", NEWEST) else dataset.strip()


def _start_from(start: str | None) -> tuple[str | None, str | None]:
    """(base, from_variant) for a "Start from" choice; a bare name is a base if one has that name."""
    kind, sep, name = (start or "").partition(":")
    if not sep:
        kind, name = ("", kind)
    name = name.strip()
    if not name or name == DEFAULT_START:
        return None, None
    if kind == "base" or (kind == "" and name in get_registry().bases()):
        return name, None
    return None, name


def form_config(method: str, start: str | None, dataset: str | None, preset: str, name: str | None,
                max_steps: float | None, learning_rate: float | None, lora_r: float | None,
                per_device_train_batch_size: float | None, load_in_4bit: bool | None,
                advanced: str | None) -> TrainConfig:
    """The training configuration the form describes (preset < advanced lines < the fields above them)."""
    overrides: dict[str, Any] = parse_settings(advanced)
    fields = dict(zip(KEY_SETTINGS, (max_steps, learning_rate, lora_r, per_device_train_batch_size)))
    overrides.update({key: value for key, value in fields.items() if value is not None})
    if load_in_4bit is not None:
        overrides["load_in_4bit"] = bool(load_in_4bit)
    base, from_variant = _start_from(start)
    return resolve_config(method, preset=preset, base=base, from_variant=from_variant, dataset=_dataset(dataset),
                          name=(name or "").strip() or None, overrides=overrides)


def preset_values(method: str, preset: str) -> tuple[Any, ...]:
    """The key fields and the 4-bit box as the preset sets them for this method."""
    try:
        config = resolve_config(method, preset=preset, base="preset")
    except TravelbotError:
        return (gr.skip(),) * (len(KEY_SETTINGS) + 1)
    return (*(getattr(config, key) for key in KEY_SETTINGS), config.load_in_4bit)


def preview_command(*form: Any) -> str:
    """The ``travelbot train`` command the form would run, or why it cannot run, as one sentence."""
    try:
        command = train_command(form_config(*form))
    except TravelbotError as exc:
        return error_note(str(exc))
    return f"Equivalent command:\n```bash\n{shlex.join(command)}\n```"


def start_training(method: str, start: str | None, dataset: str | None, preset: str, name: str | None,
                   max_steps: float | None, learning_rate: float | None, lora_r: float | None,
                   per_device_train_batch_size: float | None, load_in_4bit: bool | None, advanced: str | None) -> str:
    """Submit a training job; returns a sentence saying whether it started, was queued, or why not."""
    try:
        config = form_config(method, start, dataset, preset, name, max_steps, learning_rate, lora_r,
                             per_device_train_batch_size, load_in_4bit, advanced)
        job = jobs.get_job(submit_training(config))
    except TravelbotError as exc:
        return error_note(str(exc))
    except Exception as exc:  # shown, not raised: the server keeps running
        log.exception("Could not start a training job")
        return error_note(f"Could not start the training ({type(exc).__name__}: {exc}).")
    where = "the GPU" if job["device"] == "cuda" else "the CPU"
    if job["status"] == "running":
        return f"Started job {job['id']} ({job['name']}) on {where}; its progress is below."
    if job["status"] == "queued":
        return f"Queued job {job['id']} ({job['name']}); {queue_note(job)}"
    return error_note(f"Job {job['id']} ({job['name']}) {job['status']}: {job['error'] or 'no details'}")


def cancel_training(job: str | None) -> str:
    """Cancel a queued or running job by id; returns a sentence."""
    if job in (None, ""):
        return error_note("Pick a job to cancel first.")
    try:
        cancelled = jobs.cancel_job(job)
    except TravelbotError as exc:
        return error_note(str(exc))
    return f"Cancelled job {cancelled['id']} ({cancelled['name']})."


# ---------------------------------------------------------------- the jobs and their progress


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else ""


def _steps(job: dict) -> str:
    progress = job.get("last_progress") or {}
    if progress.get("step") is None:
        return ""
    return f"{progress['step']}/{progress.get('max_steps') or '?'}"


def queue_note(job: dict) -> str:
    """What a queued job waits for, in a sentence."""
    where = "the GPU" if job["device"] == "cuda" else "the CPU"
    holder = jobs.waiting_for(job)
    if holder is None:
        return f"it starts as soon as {where} is free."
    return (f"it starts when {jobs.KIND_LABELS[holder['kind']]} job {holder['id']} ({holder['name']}) on {where} ends "
            "(`travelbot jobs` lists the queue).")


def jobs_table(found: list[dict]) -> list[list[Any]]:
    return [[j["id"], j["name"], j["config"].get("method", ""), j["status"], _steps(j), _when(j["started_at"]), _when(j["finished_at"])]
            for j in found]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    return f"{seconds // 3600} h {seconds % 3600 // 60} min" if seconds >= 3600 else (
        f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s")


def _number(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "—"


def latest_values(events: list[dict]) -> dict:
    """The newest value of every field over the log events (an eval-only event does not blank the loss)."""
    merged: dict = {}
    for event in events:
        if event.get("event") == "log":
            merged.update({k: v for k, v in event.items() if v is not None})
    return merged


def current_phase(events: list[dict]) -> str | None:
    """What a running job does outside its training steps (building the dataset, loading, checking), if any:
    the newest phase event not followed by a training step."""
    for event in reversed(events):
        if event.get("event") == "phase":
            return event["phase"] + (f": {event['detail']}" if event.get("detail") else "")
        if event.get("event") == "log" and event.get("step"):
            return None
    return None


def progress_bar(job: dict, last: dict, phase: str | None = None) -> str:
    """A plain HTML bar: the share of max_steps done (full when the job ended), and the phase it is in."""
    step, total = last.get("step") or 0, last.get("max_steps") or 0
    share = 1.0 if job["status"] == "succeeded" else (min(step / total, 1.0) if total else 0.0)
    colour = {"failed": "#dc2626", "cancelled": "#9ca3af", "succeeded": "#16a34a"}.get(job["status"], "#f97316")
    label = f"{html.escape(job['status'])} · step {step}/{total or '?'} · {share:.0%}"
    if phase and job["status"] == "running":
        label += f" · {html.escape(phase[:90])}"
    return (f'<div class="train-progress" style="border:1px solid #d1d5db;border-radius:6px;height:22px;'
            f'position:relative;overflow:hidden"><div style="width:{share * 100:.1f}%;height:100%;'
            f'background:{colour}"></div><span style="position:absolute;inset:0;text-align:center;'
            f'font-size:13px;line-height:22px">{label}</span></div>')


def progress_stats(job: dict, last: dict) -> str:
    config = job["config"]
    parts = [(f"**Job {job['id']} · {job['name']}** · {config.get('method')} · preset {config.get('preset')} · "
              f"{job['device']}"),
             f"step {last.get('step', '—')}/{last.get('max_steps') or '—'}",
             f"epoch {_number(last.get('epoch'), '.2f')}", f"loss {_number(last.get('loss'), '.4f')}"]
    for key, label in (("eval_loss", "eval loss"), ("reward", "reward"), ("rewards/accuracies", "reward accuracy")):
        if last.get(key) is not None:
            parts.append(f"{label} {_number(last.get(key), '.4f')}")
    parts += [f"lr {_number(last.get('learning_rate'), '.2e')}",
              f"{_number(last.get('tokens_per_second'), '.0f')} tokens/s"]
    if job["status"] == "queued":
        parts.append(queue_note(job))
    elif job["status"] == "running":
        parts.append(f"ETA {_duration(last.get('eta_seconds'))}")
    elif job.get("started_at") and job.get("finished_at"):  # the whole job: dataset, model, steps, checks
        parts.append(f"took {_duration((job['finished_at'] - job['started_at']).total_seconds())}")
    elif last.get("elapsed_seconds") is not None:
        parts.append(f"took {_duration(last.get('elapsed_seconds'))}")
    return " · ".join(parts)


def loss_figure(events: list[dict]) -> Any:
    """Train and eval loss against step (a Plotly figure), or None before the first logged loss."""
    logs = [e for e in events if e.get("event") == "log" and e.get("step") is not None]
    train = [(e["step"], e["loss"]) for e in logs if isinstance(e.get("loss"), (int, float))]
    evals = [(e["step"], e["eval_loss"]) for e in logs if isinstance(e.get("eval_loss"), (int, float))]
    if not train and not evals:
        return None
    import plotly.graph_objects as go

    figure = go.Figure()
    for points, label in ((train, "train loss"), (evals, "eval loss")):
        if points:
            figure.add_trace(go.Scatter(x=[s for s, _ in points], y=[v for _, v in points], mode="lines+markers",
                                        name=label))
    figure.update_layout(xaxis_title="step", yaxis_title="loss", height=320, margin={"l": 40, "r": 10, "t": 10, "b": 40},
                         legend={"orientation": "h", "y": 1.1})
    return figure


def failure_note(job: dict, tail: list[str]) -> str:
    if job["status"] != "failed":
        return ""
    error = job["error"] or "The run failed without saying why."
    if "last output lines" in error:  # reconcile already attached the output
        head, _, lines = error.partition("\n")
        return f"{error_note(head)}\n```\n{lines}\n```"
    shown = "\n".join(tail[-jobs.OUTPUT_TAIL_LINES:])
    return error_note(error) + (f"\n\nLast output lines:\n```\n{shown}\n```" if shown else "")


def refresh(selected: str | None, seen: dict | None) -> tuple[Any, ...]:
    """Everything the jobs panel shows; parts that did not change since the last poll are skipped."""
    seen = dict(seen or {})
    try:
        jobs.reconcile()
        found = jobs.list_jobs(kind="train")
    except TravelbotError as exc:
        note = error_note(str(exc))
        return (gr.skip(), gr.skip(), "", note, gr.skip(), "", gr.skip(), seen)
    rows = jobs_table(found)
    choices = [(f"#{j['id']} {j['name']} · {j['status']}", str(j["id"])) for j in found]
    ids = {str(j["id"]) for j in found}
    current = str(selected).strip().lstrip("#") if selected not in (None, "") else None
    current = current if current in ids else (choices[0][1] if choices else None)

    def changed(key: str, value: Any) -> bool:
        if seen.get(key) == value:
            return False
        seen[key] = value
        return True

    table_out = rows if changed("table", rows) else gr.skip()
    pick_out = gr.Dropdown(choices=choices, value=current) if changed("pick", [choices, current]) else gr.skip()
    if current is None:
        return (table_out, pick_out, "", "No training jobs yet: fill in the form and press **Start training**.",
                None if changed("plot", None) else gr.skip(), "", "", seen)
    progress = jobs.job_progress(current, tail=40)
    last = latest_values(progress["events"]) or (progress.get("last_progress") or {})
    signature = [current, len(progress["events"])]
    plot_out = loss_figure(progress["events"]) if changed("plot", signature) else gr.skip()
    tail = progress["output_tail"]
    return (table_out, pick_out, progress_bar(progress, last, current_phase(progress["events"])),
            progress_stats(progress, last), plot_out,
            failure_note(progress, tail), "\n".join(tail), seen)


# ---------------------------------------------------------------- layout


def build(app: gr.Blocks) -> gr.Timer:
    """Lay out the Train tab inside the current Blocks context; returns its progress timer (inactive until
    the tab is opened)."""
    try:  # the server is starting: runs that died with the last one are marked failed, queued runs start
        jobs.reconcile()
    except TravelbotError as exc:
        log.warning("%s", exc)
    gpu = has_gpu()
    presets = list_presets()
    preset_default = "cpu-demo" if not gpu or "gpu-small" not in presets else "gpu-small"
    values = preset_values("qlora", preset_default)
    gr.Markdown(("GPU available: every preset works." if gpu else NO_GPU_NOTE)
                + " Runs go on in the background: you can close this page and come back.")
    with admin_section(app, "Training"):
        with gr.Row():
            method = gr.Dropdown(list(METHODS), value="qlora", label="Method")
            start = gr.Dropdown(start_choices(), value=DEFAULT_START, label="Start from", allow_custom_value=True,
                                info="default: the preset's base; dpo and rlhf start from the raft variant")
            dataset = gr.Dropdown(dataset_choices(), value=NEWEST, label="Dataset", allow_custom_value=True)
            preset = gr.Dropdown(presets, value=preset_default, label="Preset")
            name = gr.Textbox("", label="Run name", placeholder="automatic: method-date-time")
        with gr.Row():
            max_steps = gr.Number(values[0], label="Training steps", precision=0, info="max_steps")
            learning_rate = gr.Number(values[1], label="Learning rate", info="learning_rate")
            lora_r = gr.Number(values[2], label="LoRA rank", precision=0, info="lora_r")
            batch = gr.Number(values[3], label="Examples per step", precision=0, info="per_device_train_batch_size")
        with gr.Accordion("Advanced", open=False):
            load_in_4bit = gr.Checkbox(values[4], label="Base in 4-bit NF4 (QLoRA; slow on a CPU)",
                                       info="load_in_4bit — on a CPU bitsandbytes warns that its CPU kernels are "
                                            "slow: that warning is expected")
            advanced = gr.Textbox("", label="Other settings, one key=value per line", lines=4,
                                  placeholder="gradient_accumulation_steps=2\nwarmup_ratio=0.1")
            gr.Markdown("Settings: " + ", ".join(f"`{key}`" for key in sorted(TUNABLE)))
        form = [method, start, dataset, preset, name, max_steps, learning_rate, lora_r, batch, load_in_4bit, advanced]
        preview = gr.Markdown(preview_command("qlora", DEFAULT_START, NEWEST, preset_default, "", *values, ""))
        with gr.Row():
            start_button = gr.Button("Start training", variant="primary")
            cancel_button = gr.Button("Cancel the selected job", variant="stop")
    action_note = gr.Markdown()
    table = gr.Dataframe(headers=JOB_COLUMNS, interactive=False, max_height=280, label="Jobs")
    pick = gr.Dropdown([], label="Job", allow_custom_value=True)
    bar = gr.HTML()
    stats = gr.Markdown()
    plot = gr.Plot(label="Loss")
    failure = gr.Markdown()
    output = gr.Textbox(label="Output (last lines)", lines=10, max_lines=10, interactive=False, autoscroll=True)
    seen = gr.State({})
    panel = [table, pick, bar, stats, plot, failure, output, seen]

    def reload_choices() -> tuple[gr.Dropdown, gr.Dropdown]:
        return gr.Dropdown(choices=start_choices()), gr.Dropdown(choices=dataset_choices())

    def select_row(event: gr.SelectData) -> str:
        row = event.row_value or []
        return str(row[0]) if row else gr.skip()

    app.load(reload_choices, None, [start, dataset], api_visibility="private")
    app.load(refresh, [pick, seen], panel, api_visibility="private")
    gr.on([method.change, preset.change], preset_values, [method, preset],
          [max_steps, learning_rate, lora_r, batch, load_in_4bit], api_visibility="private")
    gr.on([c.change for c in form], preview_command, form, preview, api_visibility="private",
          show_progress="hidden", trigger_mode="always_last")
    start_button.click(admin_only(start_training), form, action_note, api_name="start_training").then(
        lambda: (None, {}), None, [pick, seen], api_visibility="private").then(
        refresh, [pick, seen], panel, api_visibility="private")
    cancel_button.click(admin_only(cancel_training), pick, action_note, api_name="cancel_training").then(
        refresh, [pick, seen], panel, api_visibility="private")
    pick.input(lambda p: refresh(p, {}), [pick], panel, api_visibility="private")
    table.select(select_row, None, pick, api_visibility="private").then(
        lambda p: refresh(p, {}), [pick], panel, api_visibility="private")
    timer = gr.Timer(2.0, active=False)
    timer.tick(refresh, [pick, seen], panel, api_visibility="private", show_progress="hidden")
    return timer
