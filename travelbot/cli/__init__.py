"""The ``travelbot`` command: one sub-command per feature, thin over the same functions as the UI.

Commands live in one module per service group (chat, training, data, feedback, evaluation, jobs, space);
importing them registers them on :data:`main`.
"""

from travelbot.cli import chat, data, evaluation, feedback, jobs, space, training  # noqa: F401 - registers the commands
from travelbot.cli.base import main
from travelbot.cli.evaluation import evaluate_command
from travelbot.cli.training import train

__all__ = ["evaluate_command", "main", "train"]
