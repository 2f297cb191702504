"""The ``travelbot`` group itself and what every command shares: one-sentence errors, JSON output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from travelbot import __version__
from travelbot.errors import TravelbotError


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a TravelbotError as one sentence and exit with its code instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TravelbotError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group()
@click.version_option(__version__, prog_name="travelbot")
def main() -> None:
    """Compare fine-tuned travel chatbots and find out which metrics agree with people."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
