"""Tests for travelbot/feedback/arena.py: pair drawing, a real battle with the embedded model, votes."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import replace

import pytest

from tests.feedback.conftest import PAIR, answered_battle
from tests.test_store import db_url  # noqa: F401 - the SQLite / PostgreSQL fixture
from travelbot.config import get_settings
from travelbot.errors import InvalidInputError, TravelbotError
from travelbot.feedback import arena
from travelbot.feedback.voters import Voter
from travelbot.store import Store

ANA = Voter("browser:ana-0000000001", "Ana")
BO = Voter("browser:bo-00000000002", None)


def test_pairs_are_distinct_sided_at_random_and_balanced() -> None:
    weights = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}
    counts: Counter = Counter()
    sides: Counter = Counter()
    rng = random.Random(1)
    for _ in range(600):
        left, right = arena.draw_pair(weights, counts, rng)
        assert left != right
        counts[frozenset((left, right))] += 1
        sides[left] += 1
    assert len(counts) == 6 and max(counts.values()) - min(counts.values()) <= 2  # 100 each, give or take
    assert all(130 <= sides[name] <= 170 for name in weights)  # left/right is a coin flip


def test_weights_set_each_pairs_share() -> None:
    counts: Counter = Counter()
    rng = random.Random(2)
    for _ in range(800):
        counts[frozenset(arena.draw_pair({"a": 2.0, "b": 1.0, "c": 1.0}, counts, rng))] += 1
    # target shares 2:2:1 for ab, ac, bc
    assert counts[frozenset("ab")] == pytest.approx(320, abs=3)
    assert counts[frozenset("bc")] == pytest.approx(160, abs=3)


def test_a_new_variant_catches_up() -> None:
    counts = Counter({frozenset("ab"): 50})
    rng = random.Random(3)
    drawn = [frozenset(arena.draw_pair({"a": 1, "b": 1, "c": 1}, counts, rng)) for _ in range(20)]
    assert frozenset("ab") not in drawn  # until the pairs with c have caught up


def test_arena_weights_from_settings() -> None:
    settings = replace(get_settings(), arena_weights=f"*=0,{PAIR[0]}=2,{PAIR[1]}=1")
    assert arena.arena_weights(settings) == {PAIR[0]: 2.0, PAIR[1]: 1.0}
    assert len(arena.arena_weights(replace(settings, arena_weights=""))) >= 6
    for bad in ("x=-1", "x", "x=abc", "x=inf"):
        with pytest.raises(TravelbotError, match="TRAVELBOT_ARENA_WEIGHTS"):
            arena.arena_weights(replace(settings, arena_weights=bad))
    with pytest.raises(TravelbotError, match="at least two variants"):
        arena.draw_pair({"a": 1.0}, {}, random.Random())


def test_a_real_battle_streams_both_sides_and_reveals_after_the_vote(store: Store, two_variants) -> None:
    settings = replace(two_variants, max_new_tokens=12, arena_max_turns=2)
    battle = arena.start_battle(ANA, store=store, settings=settings)
    assert {battle.variant_a, battle.variant_b} == set(PAIR)
    with pytest.raises(InvalidInputError, match="let both models answer"):
        arena.record_vote(battle.id, "model_a", ANA, store=store, settings=settings)
    for question in ("Is Lisbon walkable?", "And Porto?"):
        round_ = arena.ask(battle.id, question, ANA, store=store, settings=settings)
        with pytest.raises(InvalidInputError, match="Wait until both answers have finished"):
            arena.record_vote(battle.id, "tie", ANA, store=store, settings=settings)
        with pytest.raises(InvalidInputError, match="still answering"):
            arena.ask(battle.id, "Meanwhile?", ANA, store=store, settings=settings)
        for _ in round_:
            pass
        assert all(text.strip() for text in round_.texts) and not round_.errors
    with pytest.raises(InvalidInputError, match="at most 2 questions"):
        arena.ask(battle.id, "One more?", ANA, store=store, settings=settings)
    history = arena.exchanges(battle, store)
    assert [x.prompt for x in history] == ["Is Lisbon walkable?", "And Porto?"]
    assert all(x.finished for x in history)

    result = arena.record_vote(battle.id, "model_b", ANA, store=store, settings=settings)
    assert (result.winner, result.model_a, result.model_b) == ("model_b", battle.variant_a, battle.variant_b)
    assert result.method_a == "base" and not result.flagged
    with pytest.raises(InvalidInputError, match="already has"):
        arena.ask(battle.id, "Again?", ANA, store=store, settings=settings)


def test_votes_are_one_per_battle_even_when_clicked_at_once(db_url: str, two_variants) -> None:  # noqa: F811
    store = Store(db_url)
    try:
        battle = answered_battle(store, two_variants, ANA)
        outcomes: list[str] = []
        barrier = threading.Barrier(8)

        def click() -> None:
            barrier.wait()
            try:
                arena.record_vote(battle.id, "tie", ANA, store=store, settings=two_variants)
                outcomes.append("ok")
            except InvalidInputError as exc:
                outcomes.append(str(exc))

        threads = [threading.Thread(target=click) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes.count("ok") == 1
        assert all("already has a vote" in o for o in outcomes if o != "ok")
        assert store.count("votes") == 1
    finally:
        store.close()


def test_only_the_battles_voter_may_vote_and_choices_are_checked(store: Store, two_variants) -> None:
    battle = answered_battle(store, two_variants, ANA)
    with pytest.raises(InvalidInputError, match="Only the person"):
        arena.record_vote(battle.id, "tie", BO, store=store, settings=two_variants)
    with pytest.raises(InvalidInputError, match="Unknown vote"):
        arena.record_vote(battle.id, "A wins big", ANA, store=store, settings=two_variants)
    with pytest.raises(InvalidInputError, match="does not exist"):
        arena.record_vote("no-such-battle", "tie", ANA, store=store, settings=two_variants)
    with pytest.raises(InvalidInputError, match="belongs to someone else"):
        arena.ask(battle.id, "Hi?", BO, store=store, settings=two_variants)
    assert store.count("votes") == 0


def test_daily_cap_per_voter(db_url: str, two_variants) -> None:  # noqa: F811
    store = Store(db_url)
    try:
        settings = replace(two_variants, votes_per_day=2)
        for seed in range(2):
            arena.record_vote(answered_battle(store, settings, ANA, seed=seed).id, "tie", ANA, store=store,
                              settings=settings)
        with pytest.raises(InvalidInputError, match="most allowed"):
            arena.record_vote(answered_battle(store, settings, ANA).id, "tie", ANA, store=store, settings=settings)
        arena.record_vote(answered_battle(store, settings, BO).id, "tie", BO, store=store, settings=settings)
        assert store.count("votes") == 3
    finally:
        store.close()


def test_answers_naming_a_model_are_kept_but_flagged(store: Store, two_variants) -> None:
    battle = answered_battle(store, two_variants, ANA, answers=(("Who are you?", "I am ChatGPT.", "A guide."),))
    settings = replace(two_variants, flag_words="chatgpt,openai")
    result = arena.record_vote(battle.id, "model_a", ANA, store=store, settings=settings)
    assert result.flagged and result.flag_reason == "an answer names 'chatgpt'"
    assert store.count("votes") == 1


def test_errors_never_name_a_variant(registry) -> None:
    name = next(iter(registry.variants()))
    assert name not in arena.anonymise(f"Variant {name!r} on base smollm2-135m failed")
    assert "smollm2-135m" not in arena.anonymise("base smollm2-135m failed")


def test_suggested_questions_come_from_the_golden_set() -> None:
    from travelbot.data.golden import golden_path, load_golden

    questions = {q.question for q in load_golden(golden_path())[0]}
    assert arena.suggest_question(random.Random(0)) in questions


def test_the_first_battle_puts_a_base_against_a_fine_tuned_variant(store) -> None:
    from dataclasses import replace

    from travelbot.config import get_settings
    from travelbot.feedback.voters import Voter
    from travelbot.schema import battles

    settings = replace(get_settings(), arena_weights="")
    variants = arena.get_registry(settings).variants()
    for seed in range(8):
        first = arena.start_battle(Voter(f"browser:first-{seed:08d}"), store=store, settings=settings,
                                   rng=random.Random(seed))
        methods = sorted(variants[n].method == "base" for n in (first.variant_a, first.variant_b))
        assert methods == [False, True], (first.variant_a, first.variant_b)
        with store.transaction(write=True) as conn:  # back to an empty arena for the next seed
            conn.execute(battles.delete())
    drawn = {frozenset(arena.draw_pair({"a": 1, "b": 1, "c": 1}, {}, random.Random(s), among=lambda p: "a" in p))
             for s in range(20)}
    assert drawn == {frozenset("ab"), frozenset("ac")}
