"""People's judgments: arena votes (export, judge, import), the leaderboard, a terminal arena."""

from __future__ import annotations

import click

from travelbot.cli.base import main, print_json, user_errors


@main.group()
def votes() -> None:
    """Arena votes as FastChat battle rows (JSONL): export and import."""


@votes.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--no-flagged", is_flag=True, help="Leave out votes flagged because an answer named a model or vendor.")
@user_errors
def votes_export(path: str, no_flagged: bool) -> None:
    """Write every vote to PATH as FastChat battle rows (model_a, model_b, winner, judge, conversation_a/b, tstamp)."""
    from pathlib import Path

    from travelbot.feedback.votes import export_votes

    count = export_votes(Path(path), include_flagged=not no_flagged)
    click.echo(f"{count} votes written to {path}")


@votes.command("judge")
@click.option("--limit", type=click.IntRange(1, 100000), default=None, help="Judge at most this many battles.")
@click.option("--json", "as_json", is_flag=True)
@user_errors
def votes_judge(limit: int | None, as_json: bool) -> None:
    """Ask the LLM judge (TRAVELBOT_JUDGE_MODEL) about every voted battle it has not judged, in both orders;
    `travelbot agreement --source store` then compares it with the votes."""
    from travelbot.feedback.battle_judge import judge_battles

    done = judge_battles(limit=limit)
    if as_json:
        print_json(done.to_dict())
        return
    click.echo(f"{done.judge_model}: judged {done.judged} battles ({done.already} judged before, "
               f"{done.skipped_turns} of several turns left out, {done.failed} failed and will be asked again); "
               f"{done.usage.get('prompt_tokens', 0)} prompt + {done.usage.get('completion_tokens', 0)} "
               f"completion tokens, ${done.usage.get('cost_usd', 0):.4f}")


@votes.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@user_errors
def votes_import(path: str, as_json: bool) -> None:
    """Add FastChat battle rows from PATH to the store; bad rows are reported with a reason and skipped."""
    from pathlib import Path

    from travelbot.feedback.votes import import_votes

    report = import_votes(Path(path))
    if as_json:
        print_json(report.summary())
        return
    click.echo(f"imported {report.loaded} votes, refused {report.refused}")
    for problem in report.problems[:20]:
        click.echo(f"  {problem}", err=True)


@main.command()
@click.option("--rounds", type=click.IntRange(200, 100000), default=1000, show_default=True,
              help="Bootstrap resamples for the 95% intervals.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--include-flagged", is_flag=True, help="Count flagged votes (naming a model) and flagged voters' votes too.")
@click.option("--style-control", "with_style", is_flag=True,
              help="Also rate with answer style held equal (length, headers, lists, bold), as LMArena does.")
@click.option("--json", "as_json", is_flag=True, help="Ratings, pairs, matrices and rating summary as JSON.")
@user_errors
def leaderboard(rounds: int, seed: int, include_flagged: bool, with_style: bool, as_json: bool) -> None:
    """Variants ranked by blind votes (Bradley–Terry with a weak prior, Elo-like scale, bootstrap 95% intervals;
    provisional below TRAVELBOT_LEADERBOARD_MIN_BATTLES battles; votes needed to separate the top two) and mean
    ratings."""
    from travelbot.feedback.standings import standings

    result = standings(rounds=rounds, seed=seed, include_flagged=include_flagged, with_style=with_style)
    if as_json:
        print_json(result.to_dict())
        return
    board = result.board
    click.echo(f"{board.n_battles} votes, {board.rounds} bootstrap rounds (seed {board.seed})"
               + (f"; {result.flagged_votes} flagged votes left out" if result.flagged_votes and not include_flagged
                  else ""))
    if board.votes_to_separate_top_two:
        click.echo(f"top two: {board.votes_to_separate_top_two.explanation}")
    for check in (v for v in result.voters if v.flagged):
        click.echo(f"flagged voter {check.voter_name or check.voter_id} ({check.votes} votes"
                   f"{', counted: --include-flagged' if include_flagged else ', left out'}): {check.evidence}")
    if result.left_out.get("repeated_question"):
        click.echo(f"{result.left_out['repeated_question']} battles on a question asked more often than "
                   "TRAVELBOT_ARENA_QUESTION_CAP left out")
    click.echo(f"{'rank':>4}  {'variant':<28} {'battles':>7}  rating [95% interval]")
    for r in board.ratings:
        click.echo(f"{r.rank:>4}  {r.variant:<28} {r.battles:>7}  {r.label()}")
    if any(r.provisional for r in board.ratings):
        click.echo(f"provisional: fewer than {board.min_battles} battles, the rating (≈) is a rough guess")
    if result.style is not None:
        style = result.style
        click.echo(f"\nstyle control ({style.n_battles} votes with both answers stored; raw = the plain fit on them)")
        if not style.ratings:
            click.echo("  needs votes between at least two variants whose answers are stored")
        click.echo(f"{'rank':>4}  {'variant':<28} {'raw':>6}  style-controlled [95% interval]")
        for r in style.ratings:
            click.echo(f"{r.rank:>4}  {r.variant:<28} {r.raw:>6.0f}  {r.rating:.0f} [{r.lower:.0f}, {r.upper:.0f}]")
        for c in style.coefficients:
            click.echo(f"  {c.sentence}")
    summary = result.ratings
    if summary.scores:
        click.echo(f"\nratings: {summary.n_ratings} by {summary.n_raters} raters (mean, 95% interval, answers)")
        for s in summary.scores:
            click.echo(f"  {s.variant:<28} {s.criterion:<12} {s.mean:.2f} ({s.lower:.2f} – {s.upper:.2f}) n={s.n}")
        for a in summary.agreement:
            click.echo(f"  agreement {a.criterion:<12} Krippendorff's alpha {a.alpha:.3f} "
                       f"({a.n_items} answers, {a.n_raters} raters)")


@main.command()
@click.option("--voter", required=True, help="Your name; votes are recorded as cli:<name>.")
@click.option("--max-new-tokens", type=click.IntRange(1, 8192), default=None)
@user_errors
def arena(voter: str, max_new_tokens: int | None) -> None:
    """Battle in the terminal: two anonymous variants answer your questions, you vote, the names are revealed."""
    from dataclasses import replace

    from travelbot.config import get_settings, set_settings
    from travelbot.feedback import arena as battles
    from travelbot.feedback.voters import Voter, check_display_name

    if max_new_tokens:
        set_settings(replace(get_settings(), max_new_tokens=max_new_tokens))
    name = check_display_name(voter) or "anonymous"
    person = Voter(f"cli:{name}", name)
    battle = battles.start_battle(person)
    choices = {"a": "model_a", "b": "model_b", "t": "tie", "x": "tie (bothbad)"}
    for _ in range(get_settings().arena_max_turns):
        message = click.prompt("question (empty to vote)", default="", show_default=False)
        if not message.strip():
            break
        round_ = battles.ask(battle.id, message, person)
        for _ in round_:
            pass
        for side, text in zip("AB", round_.texts, strict=True):
            click.echo(f"\n--- Model {side} ---\n{text}")
        for side, error in round_.errors.items():
            click.echo(f"(Model {side} could not answer: {error})", err=True)
    choice = click.prompt("vote: [a] A is better, [b] B is better, [t] tie, [x] both are bad",
                          type=click.Choice(list(choices)))
    result = battles.record_vote(battle.id, choices[choice], person)
    click.echo(f"A was {result.model_a} ({result.method_a}); B was {result.model_b} ({result.method_b})"
               + (f" — flagged: {result.flag_reason}" if result.flagged else ""))
