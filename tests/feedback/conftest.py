"""Battles in a real store without generating: turns are logged as the arena would log them."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from travelbot.config import get_settings
from travelbot.feedback import arena
from travelbot.feedback.voters import Voter
from travelbot.store import ChatTurn

PAIR = ("smollm2-135m", "smollm2-135m-precise")


@pytest.fixture
def two_variants():
    """Settings whose arena draws only the two adapter-free variants of the embedded base."""
    return replace(get_settings(), arena_weights=f"*=0,{PAIR[0]}=1,{PAIR[1]}=1", flag_words="")


def answered_battle(store, settings, voter: Voter, answers=(("Where?", "Lisbon is lovely.", "Try Porto."),),
                    seed: int = 0) -> arena.Battle:
    """A battle with logged, finished answers on both sides (no model involved)."""
    battle = arena.start_battle(voter, store=store, settings=settings, rng=random.Random(seed))
    for index, (prompt, answer_a, answer_b) in enumerate(answers):
        for conversation, variant, answer in ((battle.conversation_a, battle.variant_a, answer_a),
                                              (battle.conversation_b, battle.variant_b, answer_b)):
            store.log_turn(ChatTurn(
                conversation_id=conversation, turn_index=index, variant=variant, base="smollm2-135m", method="base",
                messages=[{"role": "system", "content": "s"}, {"role": "user", "content": prompt}], answer=answer,
                settings={"temperature": 0.7}, finish_reason="stop", client_id=voter.id, prompt=prompt))
    return battle
