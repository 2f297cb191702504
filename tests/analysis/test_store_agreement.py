"""Tests for travelbot/analysis/store_agreement.py: the store's votes and ratings against its scores."""

from __future__ import annotations

import random
from dataclasses import replace

from sqlalchemy import insert

from tests.feedback.conftest import answered_battle
from travelbot.analysis.store_agreement import store_agreement
from travelbot.config import get_settings
from travelbot.data.golden import golden_path, load_golden
from travelbot.feedback import arena
from travelbot.feedback.ratings import offer, record_rating
from travelbot.feedback.voters import Voter
from travelbot.schema import utc_now, eval_answers, eval_scores
from travelbot.store import Store

ANA = Voter("browser:ana-0000000001", "Ana")


def test_votes_and_ratings_against_metrics(store: Store) -> None:
    settings = replace(get_settings(), arena_weights="*=0,smollm2-135m=1,smollm2-135m-precise=1", flag_words="",
                       votes_per_day=1000)
    questions = load_golden(golden_path())[0][:12]
    for seed, q in enumerate(questions):
        good, bad = q.reference_answer, "I do not know anything about that, sorry."
        first_good = seed % 2 == 0
        battle = answered_battle(store, settings, ANA, seed=seed,
                                 answers=((q.question, good if first_good else bad, bad if first_good else good),))
        arena.record_vote(battle.id, "model_a" if first_good else "model_b", ANA, store=store,
                          settings=settings)
    answered_battle(store, settings, ANA, seed=99, answers=(("Not a golden question?", "x", "y"),))  # not counted

    rng = random.Random(0)
    with store.transaction(write=True) as conn:
        for i, q in enumerate(questions):
            for variant, quality in (("v-good", 4 + rng.random()), ("v-bad", 1 + rng.random())):
                answer_id = conn.execute(insert(eval_answers).values(
                    cache_key=f"{variant}-{i}", variant=variant, variant_revision="base", base="b", method="base",
                    question_id=q.id, question=q.question, golden=q.reference_answer, answer=f"{variant} answer {i}",
                    raw_answer="", contexts=[], settings={}, prompt_tokens=1, completion_tokens=1, seconds=0.1,
                    batch_size=1, finish_reason="stop", created_at=utc_now())).inserted_primary_key[0]
                conn.execute(insert(eval_scores).values(
                    answer_id=answer_id, scorer="bleu", scorer_version="1", metric="bleu", value=quality * 10,
                    missing=None, detail={}, created_at=utc_now()))
    for answer_id in range(1, 2 * len(questions) + 1):
        for rater in ("r1", "r2"):
            overall = 5 if answer_id % 2 else 1
            voter = Voter(f"browser:{rater}-000000000")
            offer(f"eval:{answer_id}", voter, store)
            record_rating(f"eval:{answer_id}", {"overall": overall}, voter, store=store)

    result = store_agreement(["bleu", "rougeL"], store, rounds=200)
    assert result.votes_considered == 12
    assert result.votes["rougeL"].accuracy.value == 1.0 and result.votes["rougeL"].n == 12
    longer = result.votes["longer response"]  # the length baseline: here the preferred golden answer is longer
    expected = sum(len(q.reference_answer) > len("I do not know anything about that, sorry.") for q in questions) / 12
    assert longer.n == 12 and longer.accuracy.value == expected
    assert result.rated_answers == 24
    assert result.ratings["bleu"]["spearman"].value > 0.8 and result.ratings["bleu"]["spearman"].n == 24
    assert result.systems["bleu"].spearman.value == 1.0 and result.systems["bleu"].systems == 2
    assert result.to_dict()["votes_considered"] == 12

    from travelbot.analysis.plots import metric_rating_scatter
    from travelbot.analysis.store_agreement import rated_scores, variant_rankings

    points = rated_scores("bleu", store)
    assert len(points) == 24 and {p[2] for p in points} == {"v-good", "v-bad"}
    assert all(p[1] == 5 for p in points if p[2] == "v-good") and all(p[1] == 1 for p in points if p[2] == "v-bad")
    figure = metric_rating_scatter(points, "bleu")
    assert [t.name for t in figure.data] == ["v-bad", "v-good", "least-squares fit"]
    assert metric_rating_scatter([], "bleu").layout.annotations[0].text.startswith("No rated")
    headers, rows = variant_rankings(["bleu"], store, rounds=200)
    assert headers == ["variant", "human rank", "Bradley–Terry rating", "mean overall rating", "bleu"]
    table = {row[0]: row for row in rows}
    assert table["v-good"][3] == 5 and table["v-bad"][3] == 1 and table["v-good"][4] > table["v-bad"][4]
    assert {"smollm2-135m", "smollm2-135m-precise"} <= set(table)  # the arena's variants, ranked by votes


def test_metric_correlations_over_stored_scores(store: Store) -> None:
    from travelbot.analysis.plots import metric_correlation_heatmap
    from travelbot.analysis.store_agreement import metric_correlations

    assert metric_correlations(store) == ([], [], 0)
    assert metric_correlation_heatmap([], [], 0).layout.annotations[0].text == "No evaluation scores yet"
    with store.transaction(write=True) as conn:
        for i in range(6):
            answer_id = conn.execute(insert(eval_answers).values(
                cache_key=f"k{i}", variant="v", variant_revision="base", base="b", method="base", question_id=f"q{i}",
                question="Q?", golden="G.", answer=f"A{i}.", raw_answer="", contexts=[], settings={}, prompt_tokens=1,
                completion_tokens=1, seconds=0.1, batch_size=1, finish_reason="stop",
                created_at=utc_now())).inserted_primary_key[0]
            for metric, value, missing in (("bleu", float(i), None), ("rougeL", float(i * i), None),
                                           ("meteor", float(-i), None),
                                           ("judge_overall", None if i == 0 else float(i % 2), "parse failure"
                                            if i == 0 else None)):
                conn.execute(insert(eval_scores).values(answer_id=answer_id, scorer=metric, scorer_version="1",
                                                        metric=metric, value=value, missing=missing, detail={},
                                                        created_at=utc_now()))
    metrics, matrix, answers = metric_correlations(store)
    assert metrics == ["bleu", "judge_overall", "meteor", "rougeL"] and answers == 6
    row = dict(zip(metrics, matrix[0], strict=True))
    assert row["bleu"] == 1.0 and row["rougeL"] == 1.0 and row["meteor"] == -1.0
    figure = metric_correlation_heatmap(metrics, matrix, answers)
    assert list(figure.data[0].x) == metrics and "6 evaluation answers" in figure.layout.title.text


def _rated_answers(store: Store, questions, variants=("v-good", "v-bad")) -> None:
    """Each variant answers each question; bleu and the judge's relevance follow the quality, two raters
    score overall and relevance (v-good high, v-bad low)."""
    rng = random.Random(1)
    made = []
    with store.transaction(write=True) as conn:
        for i, q in enumerate(questions):
            for variant in variants:
                quality = (4 if variant == "v-good" else 1) + rng.random()
                answer_id = conn.execute(insert(eval_answers).values(
                    cache_key=f"{variant}-{i}", variant=variant, variant_revision="base", base="b", method="base",
                    question_id=q.id, question=q.question, golden=q.reference_answer, answer=f"{variant} {i}",
                    raw_answer="", contexts=[], settings={}, prompt_tokens=1, completion_tokens=1, seconds=0.1,
                    batch_size=1, finish_reason="stop", created_at=utc_now())).inserted_primary_key[0]
                for metric, value in (("bleu", quality * 10), ("judge_relevance", quality)):
                    conn.execute(insert(eval_scores).values(
                        answer_id=answer_id, scorer=metric, scorer_version="1", metric=metric, value=value,
                        missing=None, detail={}, created_at=utc_now()))
                made.append((answer_id, variant == "v-good"))
    for answer_id, good in made:
        for rater in ("r1", "r2"):
            voter = Voter(f"browser:{rater}-000000000")
            offer(f"eval:{answer_id}", voter, store)
            record_rating(f"eval:{answer_id}", {"overall": 5 if good else 1, "relevance": 4 if good else 2},
                          voter, store=store)


def test_scope_narrows_every_figure_to_a_split_variants_and_a_criterion(store: Store) -> None:
    import pytest

    from travelbot.analysis.store_agreement import Scope, metric_correlations, rated_scores, variant_rankings
    from travelbot.errors import InvalidInputError

    questions = load_golden(golden_path())[0]
    dev = [q for q in questions if q.split == "dev"][:6]
    test = [q for q in questions if q.split == "test"][:4]
    _rated_answers(store, dev + test)

    everything = store_agreement(["bleu"], store, rounds=200)
    assert everything.rated_answers == 20 and everything.ratings["bleu"]["spearman"].n == 20
    dev_only = store_agreement(["bleu"], store, scope=Scope(split="dev"), rounds=200)
    assert dev_only.rated_answers == 12 and dev_only.to_dict()["scope"]["split"] == "dev"
    good_only = store_agreement(["bleu"], store, scope=Scope(variants=("v-good",)), rounds=200)
    assert good_only.rated_answers == 10 and set(good_only.systems) == {"bleu", "judge_relevance"}
    assert good_only.systems["bleu"].systems == 1  # one variant: no order to compare
    assert {p[2] for p in rated_scores("bleu", store, Scope(variants=("v-bad",)))} == {"v-bad"}
    assert {p[1] for p in rated_scores("bleu", store, Scope(criterion="relevance"))} == {2, 4}
    assert metric_correlations(store, Scope(split="test"))[2] == 8

    # per criterion: people's relevance against the judge's relevance on the same answers
    criteria = everything.criteria
    assert set(criteria) == {"relevance"}  # no judge verdict on overall here: nothing to compare
    relevance = criteria["relevance"]
    assert relevance["judge_metric"] == "judge_relevance" and relevance["rated_answers"] == 20
    assert relevance["correlations"]["spearman"].value > 0.8 and relevance["correlations"]["spearman"].n == 20
    assert everything.to_dict()["criteria"]["relevance"]["spearman"]["n"] == 20

    headers, rows = variant_rankings(["bleu"], store, scope=Scope(criterion="relevance", variants=("v-good",)),
                                     rounds=200)
    assert headers[3] == "mean relevance rating" and [r[0] for r in rows] == ["v-good"] and rows[0][3] == 4

    with pytest.raises(InvalidInputError, match="Unknown split"):
        Scope(split="train")
    with pytest.raises(InvalidInputError, match="Unknown criterion"):
        Scope(criterion="vibes")


def test_scope_keeps_only_battles_between_chosen_variants(store: Store) -> None:
    from travelbot.analysis.store_agreement import Scope, vote_agreement

    settings = replace(get_settings(), arena_weights="*=0,smollm2-135m=1,smollm2-135m-precise=1", flag_words="",
                       votes_per_day=1000)
    questions = [q for q in load_golden(golden_path())[0] if q.split == "dev"][:4]
    for seed, q in enumerate(questions):
        battle = answered_battle(store, settings, ANA, seed=seed,
                                 answers=((q.question, q.reference_answer, "No idea."),))
        arena.record_vote(battle.id, "model_a", ANA, store=store, settings=settings)
    assert vote_agreement(["bleu"], store, rounds=200)[1] == 4
    assert vote_agreement(["bleu"], store, scope=Scope(split="test"), rounds=200)[1] == 0
    assert vote_agreement(["bleu"], store, scope=Scope(variants=("smollm2-135m",)), rounds=200)[1] == 0
    both = Scope(variants=("smollm2-135m", "smollm2-135m-precise"), split="dev")
    agreement, considered = vote_agreement(["bleu"], store, scope=both, rounds=200)
    assert considered == 4 and agreement["bleu"].accuracy.value == 1.0


def test_rankings_of_judges_and_metrics_against_people_s_board(store: Store, tmp_path) -> None:
    """Votes simulated from known strengths; an LLM judge that follows the same truth on the same battles, one
    that reverses it, and a metric whose per-variant means follow it: Arena-Hard's two figures for each, in
    the result, its dict, a scope and the CLI."""
    import json

    import numpy as np
    from click.testing import CliRunner

    from travelbot.analysis.separability import AGREEMENT_MEANS
    from travelbot.analysis.store_agreement import Scope, ranking_agreements
    from travelbot.cli import main
    from travelbot.config import set_settings
    from travelbot.feedback import repository as feedback_repository
    from travelbot.feedback.simulation import Truth, simulate
    from travelbot.feedback.votes import import_votes

    truth = Truth({"smollm2-135m": 850, "smollm2-qlora": 1000, "smollm2-raft": 1150, "smollm2-rlhf": 1300})
    rng = np.random.default_rng(5)
    battles = [{**row, "question_id": f"sim-{i}", "tstamp": 1_700_000_000 + i}
               for i, row in enumerate(simulate(truth, 1200, rng))]
    (tmp_path / "battles.jsonl").write_text("".join(json.dumps(row) + "\n" for row in battles), encoding="utf-8")
    assert import_votes(tmp_path / "battles.jsonl", store).loaded == 1200
    for judge, lean in (("follows-judge", 1.0), ("reversed-judge", -1.0)):
        verdicts = []
        for row in battles:
            p = truth.win_probability(row["model_a"], row["model_b"], 1, 1)
            winner = "A" if rng.random() < (p if lean > 0 else 1.0 - p) else "B"
            verdicts.append({"battle_id": row["question_id"], "prompt_version": "sim", "winner": winner,
                             "missing": None, "consistent": True, "detail": {}, "usage": {}})
        feedback_repository.save_battle_judgments(store, judge, verdicts)
    with store.transaction(write=True) as conn:
        for variant, rating in truth.ratings.items():
            for i in range(40):
                answer_id = conn.execute(insert(eval_answers).values(
                    cache_key=f"{variant}-{i}", variant=variant, variant_revision="base", base="b", method="base",
                    question_id=f"q{i}", question="Q?", golden="G.", answer="A.", raw_answer="", contexts=[],
                    settings={}, prompt_tokens=1, completion_tokens=1, seconds=0.1, batch_size=1,
                    finish_reason="stop", created_at=utc_now())).inserted_primary_key[0]
                conn.execute(insert(eval_scores).values(
                    answer_id=answer_id, scorer="bleu", scorer_version="1", metric="bleu", missing=None, detail={},
                    value=float(np.clip(rng.normal((rating - 700) / 1000, 0.08), 0, 1)), created_at=utc_now()))

    rankings = ranking_agreements(store, rounds=200)
    assert list(rankings) == ["follows-judge", "reversed-judge", "bleu"]
    follows, reversed_, bleu = rankings.values()
    assert follows.kind == "LLM judge" and bleu.kind == "metric" and follows.pairs == 6
    assert follows.people_separated >= 5 and follows.agreement >= 0.8 and follows.disagree == 0
    assert reversed_.agreement <= -0.8 and reversed_.agree == 0
    assert bleu.agreement >= 0.8 and bleu.separability >= 0.8
    two = ranking_agreements(store, Scope(variants=("smollm2-135m", "smollm2-rlhf")), rounds=200)
    assert all(r.pairs == 1 and r.variants == ("smollm2-135m", "smollm2-rlhf") for r in two.values())

    found = store_agreement(["bleu"], store, rounds=200).to_dict()["rankings"]
    assert found["bleu"]["agreement_with_confidence"]["n"] == bleu.people_separated
    assert found["follows-judge"]["separability"]["n"] == 6 and len(found["bleu"]["sentences"]) == 2
    previous = get_settings()
    set_settings(replace(previous, db_url=store.url))
    try:
        result = CliRunner().invoke(main, ["agreement", "--metrics", "bleu", "--rounds", "200"])
    finally:
        set_settings(previous)
    assert result.exit_code == 0, result.output
    assert AGREEMENT_MEANS in result.output
    line = next(line for line in result.output.splitlines() if line.strip().startswith("reversed-judge"))
    assert "4 variants: separability" in line and "agreement with confidence -" in line and "of " in line
