"""Training runs as jobs: a configuration becomes a queued ``travelbot train`` child process (see travelbot.jobs).

    job_id = submit_training(resolve_config("qlora", preset="cpu-demo", base="smollm2-135m"))
"""

from __future__ import annotations

from collections.abc import Sequence

from travelbot import jobs
from travelbot.config import get_settings
from travelbot.errors import TravelbotError
from travelbot.training.config import TrainConfig, train_command

LOG_NAME = "trainer_log.jsonl"


def device_for(config: TrainConfig) -> str:
    """Where a preset trains: "cpu" for the CPU presets (cpu-demo), "cuda" for the GPU ones."""
    return "cpu" if config.preset.startswith("cpu") else "cuda"


def submit_training(config: TrainConfig, *, argv: Sequence[str] | None = None) -> int:
    """Queue a training run and start it if its device is free; return the job id.

    ``argv`` replaces the real trainer command (tests, other trainers); ``{job_id}`` and ``{run_dir}`` in its
    items are filled in.
    """
    train_command(config)  # a config that cannot be turned into a command fails here, before a row exists
    if config.name in jobs.active_names("train"):
        raise TravelbotError(f"A training job named {config.name!r} is already queued or running; choose another name.")
    run_dir = (get_settings().runs_dir / config.name).resolve()
    return jobs.submit("train", config.name, [*train_command(config)[1:], "--job-id", "{job_id}"],
                       config=config.to_dict(), device=device_for(config), run_dir=run_dir,
                       log_path=run_dir / LOG_NAME, argv=argv)
