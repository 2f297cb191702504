"""Chatting with variants: list them, ask one, serve the dashboard, benchmark the chat back-end."""

from __future__ import annotations

import click

from travelbot.cli.base import main, print_json, user_errors


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@user_errors
def variants(as_json: bool) -> None:
    """List the variants you can chat with (bases, configured variants, discovered adapters)."""
    from travelbot.models import backend_kind, get_registry

    registry = get_registry()
    found = registry.variants()
    if as_json:
        print_json({"variants": [v.summary() | {"backend": backend_kind(v.base)} for v in found.values()],
                     "problems": registry.problems})
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
        raft = answer.raft
        print_json(
            {
                "answer": answer.answer,
                **({"raw": answer.text, "reasoning": raft.reasoning, "quotes": raft.quotes,
                    "sources": [p.passage_id for p in answer.passages]} if raft is not None else {}),
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
    from travelbot.chat import warm_up

    warm_up()  # the models load while Gradio is imported and the page is built
    from travelbot.ui import launch

    launch(host=host, port=port)


@main.group()
def bench() -> None:
    """Benchmarks that print figures."""


@bench.command("eval")
@click.option("--batch-size", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Answers of one variant decoded together.")
@click.option("--split", type=click.Choice(["dev", "test", "train"]), default="dev", show_default=True)
@click.option("--limit", type=click.IntRange(1, 10**6), default=None, help="Only the first N questions.")
@click.option("--compare", type=click.IntRange(0, 100), default=4, show_default=True,
              help="Questions also answered one at a time, to compare batched and single greedy answers.")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), default=None, help="Default: each variant's own.")
@click.option("--variants", default=None, help="Comma-separated variants (default: every local variant of the base).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@user_errors
def bench_eval_command(batch_size: int, split: str, limit: int | None, compare: int, max_new_tokens: int | None,
                       variants: str | None, as_json: bool) -> None:
    """Wall time and generation tokens/s of a golden-answer run of every local variant (nothing cached), against
    llama.cpp's single-stream decode of the bare base; how often batched greedy answers equal single ones."""
    from travelbot.bench import bench_eval

    names = [v.strip() for v in variants.split(",") if v.strip()] if variants else None
    figures = bench_eval(batch_size=batch_size, split=split, limit=limit, compare=compare, max_new_tokens=max_new_tokens,
                         names=names)
    if as_json or "error" in figures:
        print_json(figures)
        return
    click.echo(f"{figures['answers']} answers ({len(figures['variants'])} variants x {figures['questions']} questions, "
               f"batches of {figures['batch_size']}) in {figures['wall_s']} s: {figures['generation_tokens_per_s']} tok/s, "
               f"{figures['vs_reference']}x llama.cpp's single stream on the bare base")
    if figures.get("floor_s"):
        click.echo(f"  {figures['prompt_tokens']} prompt + {figures['completion_tokens']} answer tokens at llama.cpp's own "
                   f"prompt-reading speed ({figures['reference_prompt_read_tokens_per_s']} tok/s) would take "
                   f"{figures['floor_s']} s: at most {figures['ceiling_vs_reference']}x on this machine")
    for name, same in figures["batched_equals_single"].items():
        click.echo(f"  {name}: {same['identical']}/{same['answers']} batched answers equal the single ones")


@bench.command("chat")
@click.option("--max-new-tokens", type=click.IntRange(8, 2048), default=128, show_default=True)
@click.option("--min-adapters", type=click.IntRange(0, 16), default=4, show_default=True,
              help="Add random adapters until this many adapter variants are loaded (for the memory figure).")
@click.option("--synthetic-rank", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--base", default=None, help="Base whose variants to measure (default: the first local one).")
@click.option("--same-answers", is_flag=True,
              help="Also compare greedy answers with the transformers back-end on the golden dev questions (minutes).")
@click.option("--questions", type=click.IntRange(1, 10**6), default=None, help="With --same-answers: only the first N.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@user_errors
def bench_chat_command(max_new_tokens: int, min_adapters: int, synthetic_rank: int, base: str | None,
                       same_answers: bool, questions: int | None, as_json: bool) -> None:
    """Decode tokens/s and time to first token per variant against llama.cpp itself; memory of base alone vs
    base + variants; optionally how often answers match the transformers back-end."""
    from travelbot.bench import bench_chat

    figures = bench_chat(max_new_tokens=max_new_tokens, min_adapters=min_adapters, synthetic_rank=synthetic_rank, base=base,
                         compare_answers=same_answers, questions=questions)
    if as_json:
        print_json(figures)
        return
    reference = figures.get("reference", {}).get("decode_tokens_per_s")
    if reference:
        click.echo(f"{'llama.cpp itself (bare base)':<28} {reference:>7.1f} tok/s")
    for row in figures.get("variants", []):
        click.echo(f"{row['variant']:<28} {row['decode_tokens_per_s']:>7.1f} tok/s   first token {row['ttft_s']:.3f} s")
    if "memory_ratio" in figures:
        click.echo(f"memory: base {figures['rss_mb']['base']} MB, with variants {figures['rss_mb']['base_plus_variants']} MB "
                   f"({figures['memory_ratio']}x)")
