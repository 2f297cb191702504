"""The verdict on stores filled from a known truth (simulated here, never shipped): battles imported as FastChat
rows, evaluation answers with a judge's score, and people's ratings through the Rate service."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from travelbot.analysis.verdict import pareto_front, recommend, verdict
from travelbot.config import get_settings, set_settings
from travelbot.evaluation import repository as eval_repository
from travelbot.evaluation.scores import Score
from travelbot.feedback.ratings import offer, record_rating
from travelbot.feedback.voter_quality import store_battles
from travelbot.feedback.voters import Voter
from travelbot.feedback.votes import import_votes
from travelbot.schema import utc_now
from travelbot.store import Store

# The truth the data is drawn from: Bradley–Terry log-strengths of the shipped variants.
STRENGTH = {"smollm2-135m": -0.6, "smollm2-qlora": 0.0, "smollm2-raft": 1.0, "smollm2-dpo": 1.0, "smollm2-rlhf": 1.7}


def simulated_battles(path: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    names = list(STRENGTH)
    rows = []
    for i in range(n):
        a, b = rng.choice(names, size=2, replace=False)
        p = 1.0 / (1.0 + math.exp(STRENGTH[b] - STRENGTH[a]))
        rows.append({"question_id": f"sim-{seed}-{i}", "model_a": str(a), "model_b": str(b),
                     "winner": "model_a" if rng.random() < p else "model_b", "judge": f"sim:{i % 25}",
                     "tstamp": 1_700_000_000 + i})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def simulated_store(store: Store, tmp_path: Path):
    previous = get_settings()
    set_settings(replace(previous, leaderboard_min_battles=20))
    assert import_votes(simulated_battles(tmp_path / "battles.jsonl", 900), store).loaded == 900
    yield store
    set_settings(previous)


def test_the_verdict_finds_what_the_truth_says(simulated_store: Store) -> None:
    found = verdict(simulated_store, rounds=400)
    status = {f.claim: f.status for f in found.findings}
    assert status["RAFT beats QLoRA"] == "supported"
    assert status["RLHF improves on its start (RAFT)"] == "supported"
    assert status["DPO improves on its start (RAFT)"] == "undetermined"  # DPO is as strong as RAFT here
    assert found.preference.startswith("People prefer smollm2-rlhf over ")
    assert "probability" in found.preference and "rating points [" in found.preference
    counted, left_out, _ = store_battles(simulated_store)  # one of the 25 simulated voters fails the voter test
    assert found.recommended == "smollm2-rlhf" and found.votes == len(counted) == 900 - sum(left_out.values()) >= 850
    rows = {r.variant: r for r in found.rows}
    raft = rows["smollm2-raft"]
    assert raft.people_rating["n"] > 250 and raft.people_rating["lower"] < raft.people_rating["value"]
    assert raft.training["seconds"] > 0 and raft.training["device"] == "cpu"  # from the shipped run.json
    assert any("No ratings" in note for note in found.missing)
    json.dumps(found.to_dict())  # the CLI's --json


def test_an_empty_store_says_what_each_sentence_needs(store: Store) -> None:
    found = verdict(store, rounds=200)
    assert found.preference.startswith("No votes yet")
    assert found.recommended is None and "needs people's votes" in found.recommendation
    assert {f.status for f in found.findings} == {"undetermined"}
    assert all(f.evidence and f.rule for f in found.findings)
    assert len(found.missing) >= 4 and any("Rate tab" in note for note in found.missing)


def test_a_few_votes_say_how_many_more_would_separate_the_top_two(store: Store, tmp_path: Path) -> None:
    import_votes(simulated_battles(tmp_path / "few.jsonl", 12, seed=3), store)
    found = verdict(store, rounds=200)
    assert "cannot be separated yet" in found.preference and "more votes on this pair" in found.preference


def test_ratings_are_powered_by_the_judge_where_people_rated_a_few(store: Store) -> None:
    rng = np.random.default_rng(5)
    ids = []
    for i in range(120):  # 120 evaluation answers of RAFT: the judge scores all, people rate 30
        quality = rng.normal(3.5, 0.9)
        row = {"cache_key": f"sim-{i}", "variant": "smollm2-raft", "variant_revision": "sim", "base": "smollm2-135m",
               "method": "raft", "question_id": f"q{i}", "question": f"Question {i}?", "golden": "g",
               "answer": f"Answer {i}.", "raw_answer": f"Answer {i}.", "contexts": [], "settings": {},
               "prompt_tokens": 1, "completion_tokens": 1, "seconds": 0.1, "batch_size": 1, "finish_reason": "stop",
               "error": None, "created_at": utc_now()}
        (stored, _), = eval_repository.add_answers(store, [row])
        judge = float(np.clip(round(2 * quality + 1 + rng.normal(0, 0.6)), 1, 10))  # another scale, biased
        eval_repository.add_scores(store, stored["id"], "judge", "sim", [Score("judge_overall", judge)])
        ids.append((stored["id"], quality))
    for answer_id, quality in ids[:30]:
        rater = Voter(f"cli:rater-{answer_id % 3}", None)
        offer(f"eval:{answer_id}", rater, store)
        record_rating(f"eval:{answer_id}", {"overall": int(np.clip(round(quality), 1, 5))}, rater, store=store)
    row = next(r for r in verdict(store, rounds=200).rows if r.variant == "smollm2-raft")
    people, powered = row.people_overall, row.people_overall_ppi
    assert people["n"] == 30 and powered["n"] == 30 and powered["judge_only"] == 90
    assert powered["upper"] - powered["lower"] < people["upper"] - people["lower"]  # the judge narrows it
    assert powered["worth"] > 30  # ... as if people had rated more answers


def test_the_recommendation_is_the_cheapest_of_those_people_cannot_tell_apart() -> None:
    from travelbot.analysis.verdict import VariantRow

    def row(name: str, rating: float, spread: float, latency: float) -> VariantRow:
        return VariantRow(name, "raft", "b", people_rating={"value": rating, "lower": rating - spread,
                                                            "upper": rating + spread, "n": 50},
                          serving={"first_token_s": latency, "tokens_per_s": 10.0, "turns": 5})

    rows = [row("slow-best", 1100, 40, 3.0), row("fast-close", 1080, 40, 0.5), row("far-behind", 900, 30, 0.2)]
    name, reason = recommend(rows)
    assert name == "fast-close" and "cannot tell it from the best-rated slow-best" in reason
    rows[0].people_rating["provisional"] = True  # too few battles: the leader, and the cheaper alternative named
    name, reason = recommend(rows)
    assert name == "slow-best" and "provisionally" in reason and "the cheapest of them is fast-close" in reason
    assert set(pareto_front(rows)) == {"slow-best", "fast-close", "far-behind"}
    assert pareto_front([*rows, row("dominated", 1000, 30, 5.0)]).count("dominated") == 0


def judge_the_battles(store: Store, agree: float, consistent: float, seed: int = 0) -> None:
    """A simulated judge: agrees with the voter with probability ``agree``; its two orders agree with
    probability ``consistent``."""
    from travelbot.feedback import repository as feedback_repository
    from travelbot.feedback.votes import battle_rows

    rng = np.random.default_rng(seed)
    flip = {"model_a": "B", "model_b": "A", "tie": "A", "tie (bothbad)": "B"}
    same = {"model_a": "A", "model_b": "B", "tie": "tie", "tie (bothbad)": "tie"}
    verdicts = [{"battle_id": row["question_id"], "prompt_version": "sim", "missing": None, "detail": {}, "usage": {},
                 "winner": same[row["winner"]] if rng.random() < agree else flip[row["winner"]],
                 "consistent": bool(rng.random() < consistent)} for row in battle_rows(store)]
    feedback_repository.save_battle_judgments(store, "sim-judge", verdicts)


def test_the_judge_is_calibrated_against_these_voters_and_pandalm(store: Store, tmp_path: Path) -> None:
    from travelbot.analysis.calibration import judge_calibration
    from travelbot.analysis.judgments import import_bundled

    import_votes(simulated_battles(tmp_path / "battles.jsonl", 200), store)
    judge_the_battles(store, agree=0.9, consistent=0.8)
    (alone,) = judge_calibration(store, rounds=200)
    assert alone.n == 200 and 0.83 < alone.agreement["value"] < 0.97
    assert 0.7 < alone.position_consistency["value"] < 0.9 and alone.position_consistency["n"] == 200
    assert not alone.stands_in and "undetermined" in alone.sentence  # no human–human figure to compare with

    assert import_bundled(store) == ["pandalm"]  # the shipped set, as every fresh data home gets it
    (calibrated,) = judge_calibration(store, rounds=200)
    ceiling = calibrated.reference["people_agree"]["value"]
    assert calibrated.reference["items"] == 999 and "gpt-3.5-turbo" in calibrated.reference["judges"]
    assert calibrated.stands_in == (calibrated.agreement["lower"] >= ceiling - 0.05)
    assert calibrated.sentence.startswith("The judge can stand in" if calibrated.stands_in else "The judge cannot")


def test_win_rates_are_powered_by_the_judge_on_golden_answer_pairs(store: Store, tmp_path: Path) -> None:
    import_votes(simulated_battles(tmp_path / "battles.jsonl", 300), store)
    judge_the_battles(store, agree=0.85, consistent=1.0)
    rng = np.random.default_rng(2)
    rows = [{"cache_key": f"pair-{i}-{v}", "variant": v, "variant_revision": "sim", "base": "smollm2-135m",
             "method": v.split("-")[1], "question_id": f"q{i}", "question": "Q?", "golden": "g", "answer": "A.",
             "raw_answer": "A.", "contexts": [], "settings": {}, "prompt_tokens": 1, "completion_tokens": 1,
             "seconds": 0.1, "batch_size": 1, "finish_reason": "stop", "error": None, "created_at": utc_now()}
            for i in range(400) for v in ("smollm2-qlora", "smollm2-raft")]
    ids = [stored["id"] for stored, _ in eval_repository.add_answers(store, rows)]
    p_raft = 1.0 / (1.0 + math.exp(STRENGTH["smollm2-qlora"] - STRENGTH["smollm2-raft"]))
    eval_repository.add_verdicts(store, [{
        "cache_key": f"v{i}", "kind": "pairwise", "question_id": f"q{i}", "answer_a": ids[2 * i], "answer_b": ids[2 * i + 1],
        "variant_a": "smollm2-qlora", "variant_b": "smollm2-raft", "judge_model": "sim-judge", "prompt_version": "sim",
        "winner": "B" if rng.random() < p_raft else "A", "missing": None, "consistent": True, "detail": {}, "usage": {}}
        for i in range(400)])
    rows = {r.variant: r for r in verdict(store, rounds=200).rows}
    raft = rows["smollm2-raft"]
    people, powered = raft.people_win_rate, raft.people_win_rate_ppi
    assert people["n"] == powered["n"] > 50 and powered["judge_only"] == 400
    assert powered["upper"] - powered["lower"] < people["upper"] - people["lower"]
    assert powered["lower"] <= people["value"] + 0.15 and powered["value"] > 0.5  # RAFT wins most of its battles


def test_serving_memory_and_speed_come_from_the_newest_bench(store: Store, tmp_path: Path) -> None:
    from travelbot.bench import save_chat_figures

    previous = get_settings()
    set_settings(replace(previous, home=tmp_path))
    try:
        assert all(r.serving is None for r in verdict(store, rounds=200).rows)  # no chat turns, no bench yet
        save_chat_figures({"rss_mb": {"base": 400.0, "base_plus_variants": 455.5},
                           "variants": [{"variant": "smollm2-raft", "decode_tokens_per_s": 31.2, "ttft_s": 0.21}]})
        row = next(r for r in verdict(store, rounds=200).rows if r.variant == "smollm2-raft")
        assert row.serving["memory_mb"] == 455.5 and row.serving["bench_decode_tokens_per_s"] == 31.2
    finally:
        set_settings(previous)
