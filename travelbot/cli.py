"""The ``travelbot`` command: one sub-command per feature, thin over the same functions as the UI."""

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


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group()
@click.version_option(__version__, prog_name="travelbot")
def main() -> None:
    """Compare fine-tuned travel chatbots and find out which metrics agree with people."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@user_errors
def variants(as_json: bool) -> None:
    """List the variants you can chat with (bases, configured variants, discovered adapters)."""
    from travelbot.models import get_registry

    registry = get_registry()
    found = registry.variants()
    if as_json:
        _print_json({"variants": [v.summary() for v in found.values()], "problems": registry.problems})
        return
    for variant in found.values():
        adapter = f"  adapter: {variant.adapter}" if variant.adapter else ""
        click.echo(f"{variant.name:<28} {variant.method:<6} base: {variant.base.name}{adapter}")
    for problem in registry.problems:
        click.echo(f"skipped: {problem}", err=True)


@main.command()
@click.argument("variant")
@click.argument("message")
@click.option("--max-new-tokens", type=click.IntRange(1, 8192), default=None, help="Longest answer in tokens.")
@click.option("--temperature", type=click.FloatRange(0, 5), default=None, help="0 for greedy decoding.")
@click.option("--seed", type=int, default=None, help="Seed for sampling, for repeatable answers.")
@click.option("--system", "system_prompt", default=None, help="Replace the variant's system prompt.")
@click.option("--json", "as_json", is_flag=True, help="Print answer, variant, tokens and seconds as JSON.")
@user_errors
def chat(
    variant: str,
    message: str,
    max_new_tokens: int | None,
    temperature: float | None,
    seed: int | None,
    system_prompt: str | None,
    as_json: bool,
) -> None:
    """Ask VARIANT one question; the answer streams to the terminal (and is logged in the store)."""
    from travelbot.chat import reply

    answer = reply(
        variant, message, system_prompt=system_prompt, kind="cli",
        max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
    )
    if as_json:
        answer.result()
        _print_json(
            {
                "answer": answer.text,
                "variant": answer.variant.name,
                "method": answer.variant.method,
                "base": answer.variant.base.name,
                "tokens": answer.stats.completion_tokens,
                "prompt_tokens": answer.stats.prompt_tokens,
                "seconds": round(answer.stats.seconds, 3),
                "tokens_per_second": round(answer.stats.tokens_per_second, 2),
                "finish_reason": answer.stats.finish_reason,
                "conversation_id": answer.conversation_id,
            }
        )
        return
    for chunk in answer:
        click.echo(chunk, nl=False)
    stats = answer.stats
    click.echo(f"\n[{answer.variant.name} · {stats.completion_tokens} tokens · {stats.tokens_per_second:.1f} tok/s]", err=True)


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1, TRAVELBOT_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 7860, TRAVELBOT_PORT).")
@user_errors
def serve(host: str | None, port: int | None) -> None:
    """Serve the dashboard in the browser."""
    from travelbot.config import get_settings
    from travelbot.ui import launch

    settings = get_settings()
    launch(host=host or settings.host, port=port or settings.port)


@main.group()
def bench() -> None:
    """Benchmarks that print figures."""


@bench.command("chat")
@click.option("--max-new-tokens", type=click.IntRange(8, 2048), default=128, show_default=True)
@click.option("--min-adapters", type=click.IntRange(0, 16), default=4, show_default=True,
              help="Add random adapters until this many adapter variants are loaded (for the memory figure).")
@click.option("--synthetic-rank", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--base", default=None, help="Base whose variants to measure (default: the first local one).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@user_errors
def bench_chat_command(max_new_tokens: int, min_adapters: int, synthetic_rank: int, base: str | None, as_json: bool) -> None:
    """Decode tokens/s and time to first token per variant; memory of base alone vs base + variants."""
    from travelbot.bench import bench_chat

    figures = bench_chat(max_new_tokens=max_new_tokens, min_adapters=min_adapters, synthetic_rank=synthetic_rank, base=base)
    if as_json:
        _print_json(figures)
        return
    for row in figures.get("variants", []):
        click.echo(f"{row['variant']:<28} {row['decode_tokens_per_s']:>7.1f} tok/s   first token {row['ttft_s']:.3f} s")
    if "memory_ratio" in figures:
        click.echo(f"memory: base {figures['rss_mb']['base']} MB, with variants {figures['rss_mb']['base_plus_variants']} MB "
                   f"({figures['memory_ratio']}x)")


if __name__ == "__main__":
    main()
