"""Fine-tuning: train a method, export a run's adapter."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

from travelbot.cli.base import echo_job, main, print_json, user_errors
from travelbot.errors import TravelbotError
from travelbot.training.methods import METHODS


@main.command()
@click.argument("method", type=click.Choice(METHODS))
@click.option("--base", default=None, help="Start from a base's weights.")
@click.option("--from", "from_variant", default=None,
              help="Continue from a variant (name, or a method label such as 'raft' for its newest variant).")
@click.option("--preset", default="cpu-demo", show_default=True, help="cpu-demo (minutes), cpu-demo-full (the shipped demo variants), gpu-small or gpu-7b.")
@click.option("--dataset", default=None, help="A `travelbot data build` folder or build id (default: the newest).")
@click.option("--reward-model", default=None, help="rlhf: a reward-model run folder (default: the newest).")
@click.option("--max-steps", type=click.IntRange(1, 10**7), default=None)
@click.option("--name", default=None, help="Run name (a folder under the data home's runs/).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override any setting, e.g. lora_r=16.")
@click.option("--background", is_flag=True, help="Queue the run as a job and return at once (`travelbot jobs`).")
@click.option("--job-id", type=int, default=None, hidden=True)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@user_errors
def train(method: str, base: str | None, from_variant: str | None, preset: str, dataset: str | None,
          reward_model: str | None, max_steps: int | None, name: str | None, overrides: tuple[str, ...],
          background: bool, job_id: int | None, as_json: bool) -> None:
    """Fine-tune a variant: qlora, raft, dpo, reward (a reward model) or rlhf (online RL against it)."""
    from travelbot.training import resolve_config
    from travelbot.training.run import run_training

    settings: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise TravelbotError(f"--set needs KEY=VALUE, not {item!r}.")
        settings[key.strip()] = value.strip()
    if max_steps is not None:
        settings["max_steps"] = max_steps
    config = resolve_config(method, preset=preset, base=base, from_variant=from_variant, dataset=dataset, name=name,
                            reward_model=reward_model, overrides=settings)
    if background:
        from travelbot.training.launch import submit_training

        echo_job(submit_training(config), as_json)
        return
    # With --json stdout carries only the summary: the trainer's own log lines go to stderr.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        summary = run_training(config, job_id=job_id)
    if as_json:
        print_json(summary)
        return
    metrics = summary["metrics"]
    click.echo(f"{config.name}: {summary['status']} in {summary['seconds']} s; train loss {metrics.get('train_loss'):.4f}")
    if "behaviour" in metrics:
        b = metrics["behaviour"]
        click.echo(f"changed {b['changed']}/{b['questions']} golden dev answers; reference F1 "
                   f"{b['reference_f1_before']} -> {b['reference_f1_after']}")
    for note in summary["notes"]:
        click.echo(f"note: {note}", err=True)


@main.command("export-adapter")
@click.argument("run")
@click.option("--to", "destination", type=click.Path(file_okay=False), required=True, help="Folder to export into.")
@click.option("--name", default=None, help="Variant name in the new place (default: the run's).")
@click.option("--full-precision", is_flag=True, help="Keep float32 weights (default: float16, half the size).")
@click.option("--merge", is_flag=True, help="Write the base with the adapter merged in (a plain model folder).")
@click.option("--push", "repo_id", default=None, help="Also upload the result to this Hub repo (needs HF_TOKEN).")
@user_errors
def export_adapter_command(run: str, destination: str, name: str | None, full_precision: bool, merge: bool,
                           repo_id: str | None) -> None:
    """Copy a finished run's adapter (e.g. into assets/adapters/) as a self-describing variant."""
    from pathlib import Path

    from travelbot.training.export import export_adapter, merge_adapter, push_to_hub

    if merge:
        target = merge_adapter(run, Path(destination), name)
    else:
        target = export_adapter(run, Path(destination), name, half=not full_precision)
    click.echo(str(target))
    if repo_id:
        click.echo(push_to_hub(target, repo_id))
