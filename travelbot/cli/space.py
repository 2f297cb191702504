"""Hosting on Hugging Face Spaces: build, check, deploy, mirror feedback."""

from __future__ import annotations

import click

from travelbot.cli.base import main, user_errors


@main.group()
def space() -> None:
    """Package and deploy travelbot as a Hugging Face Space."""


@space.command("build")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--replace", is_flag=True, help="Replace a non-empty OUT_DIR.")
@user_errors
def space_build(out_dir: str, replace: bool) -> None:
    """Assemble a ready-to-push Space folder (app.py, travelbot/, assets/, card, requirements) and check it."""
    from pathlib import Path

    from travelbot.space import build_space

    built = build_space(Path(out_dir), replace=replace)
    size = sum(p.stat().st_size for p in built.rglob("*") if p.is_file())
    click.echo(f"built {built} ({size / 2**20:.1f} MB); push it with `travelbot space deploy OWNER/NAME`")


@space.command("check")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@user_errors
def space_check(folder: str) -> None:
    """Check a Space folder: card fields, Gradio version, requirements."""
    from pathlib import Path

    from travelbot.space import check_space

    problems = check_space(Path(folder))
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{folder} is a valid travelbot Space")


@space.command("deploy")
@click.argument("repo_id")
@click.option("--folder", type=click.Path(exists=True, file_okay=False), default=None,
              help="A folder made by `space build` (default: build one now).")
@click.option("--private", is_flag=True, help="Create the Space private.")
@user_errors
def space_deploy(repo_id: str, folder: str | None, private: bool) -> None:
    """Create the Space REPO_ID (owner/name) if needed and upload travelbot to it (needs HF_TOKEN)."""
    from pathlib import Path

    from travelbot.space import deploy_space

    url = deploy_space(repo_id, folder=Path(folder) if folder else None, private=private)
    click.echo(f"deployed to {url}")


@space.command("mirror")
@user_errors
def space_mirror() -> None:
    """Copy votes and ratings to the dataset repo TRAVELBOT_MIRROR_REPO now (needs HF_TOKEN)."""
    from travelbot.hosting import mirror_feedback

    counts = mirror_feedback()
    click.echo(f"mirrored {counts['votes']} votes and {counts['ratings']} ratings")
