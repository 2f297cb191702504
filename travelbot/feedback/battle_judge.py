"""The LLM judge on arena battles: every vote also measures the judge.

MT-Bench compared GPT-4's verdicts with human votes on the same pairs of answers; this does the same on
a team's own arena. When a judge is configured (``TRAVELBOT_JUDGE_MODEL``), each new vote sends its
battle to the judge in the background, asked in both presentation orders (a verdict that flips with
the order counts as a tie). ``travelbot judge battles`` judges the battles voted before the judge was
set. The verdicts sit beside the votes (table ``battle_judgments``), never in them: the leaderboard
stays people's.

A battle of one question is judged on that exchange, with the golden answer as reference when the
question is a golden one; a battle of several turns is left out (the judge would see only part of
what the voter saw) and counted as such.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from travelbot.config import Settings, get_settings
from travelbot.feedback import repository
from travelbot.store import Store, get_store

log = logging.getLogger(__name__)
HUMAN_LABELS = {"model_a": "A", "model_b": "B", "tie": "tie", "tie (bothbad)": "tie"}
_background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="battle-judge")  # one at a time, in vote order
_lock = threading.Lock()


@dataclass(frozen=True)
class JudgedBattles:
    """What one pass over the battles did."""

    judge_model: str
    judged: int  # verdicts stored (a parse failure is stored too, as missing, so it is not asked again)
    failed: int  # requests that failed: nothing stored, asked again next time
    skipped_turns: int  # battles of several turns
    already: int  # battles this judge had judged before
    usage: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"judge_model": self.judge_model, "judged": self.judged, "failed": self.failed,
                "skipped_several_turns": self.skipped_turns, "already_judged": self.already, "usage": self.usage}


def judge_configured(settings: Settings | None = None) -> bool:
    return (settings or get_settings()).judge.configured


def _single_exchange(conversation: list[dict[str, str]]) -> tuple[str, str] | None:
    users = [m["content"] for m in conversation if m.get("role") == "user"]
    answers = [m["content"] for m in conversation if m.get("role") == "assistant"]
    return (users[0], answers[0]) if len(users) == 1 and len(answers) == 1 else None


def judge_battles(store: Store | None = None, settings: Settings | None = None, *, judge=None,
                  battle_ids: Sequence[str] | None = None, limit: int | None = None) -> JudgedBattles:
    """Ask the judge about every voted, unflagged battle it has not judged yet (or only ``battle_ids``)."""
    from travelbot.data.golden import golden_path, load_golden
    from travelbot.evaluation.endpoint import JudgeEndpoint
    from travelbot.evaluation.judge import Judge, PairItem

    settings = settings or get_settings()
    store = store or get_store(settings)
    own = judge is None
    judge = judge or Judge(JudgeEndpoint.from_settings(settings))
    model = judge.endpoint.model
    try:
        rows, done = repository.battles_to_judge(store, model, battle_ids)
        golden = {q.question.strip(): q.reference_answer for q in load_golden(golden_path(settings))[0]}
        todo, skipped = [], 0
        for battle_id, conversation_a, conversation_b in rows:
            if battle_id in done:
                continue
            a, b = _single_exchange(conversation_a), _single_exchange(conversation_b)
            if a is None or b is None or a[0] != b[0]:
                skipped += 1
                continue
            todo.append((battle_id, PairItem(a[0], a[1], b[1], golden.get(a[0].strip()))))
        todo = todo[:limit] if limit is not None else todo
        results = judge.compare([item for _, item in todo])
        verdicts, failed = [], 0
        for (battle_id, _), result in zip(todo, results):
            if result.missing is not None and result.missing != "parse failure":
                failed += 1
                continue
            verdicts.append({
                "battle_id": battle_id, "prompt_version": result.prompt_version, "winner": result.winner,
                "missing": result.missing, "consistent": result.consistent,
                "detail": {"verdicts": list(result.verdicts), "reasoning": list(result.reasoning),
                           "order_missing": list(result.order_missing)},
                "usage": result.usage.to_dict()})
        with _lock:
            repository.save_battle_judgments(store, model, verdicts)
        return JudgedBattles(model, len(verdicts), failed, skipped, len(done & {r[0] for r in rows}),
                             judge.usage.to_dict())
    finally:
        if own:
            judge.close()


def judge_after_vote(battle_id: str, settings: Settings | None = None, store: Store | None = None) -> Future | None:
    """Queue the battle for the configured judge (one battle at a time, in the background); None when
    no judge is configured. A failure is logged and the battle is asked again by the next pass."""
    settings = settings or get_settings()
    if not judge_configured(settings):
        return None

    def run() -> None:
        try:
            judge_battles(store, settings, battle_ids=[battle_id])
        except Exception:
            log.exception("the judge could not judge battle %s", battle_id)

    return _background.submit(run)


def judge_labels(store: Store | None = None) -> dict[str, dict[str, str]]:
    """judge model -> {battle id: "A" | "B" | "tie"} for every decided verdict."""
    labels: dict[str, dict[str, str]] = {}
    for model, battle_id, winner in repository.decided_battle_judgments(store or get_store()):
        labels.setdefault(model, {})[battle_id] = winner
    return labels
