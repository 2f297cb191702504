"""Which votes count: voters whose votes are improbable under everyone else's, and questions asked far
more often than others.

Voter test (after Chatbot Arena, Chiang et al. 2024, §5.1 "detecting anomalous users"). For each vote
of a voter, the outcome's probability under the other voters' record on the same pair (A wins, B wins,
tie; counted with one added to each, so a pair nobody else judged says nothing) gives a mid-p-value:
the chance of a less likely outcome plus half the chance of those as likely, ``p = sum of P(o') over
P(o') < P(o) + P(o)/2`` (about uniform when the voter votes like the others; the plain discrete p-value
is so conservative that a voter who always picked the weaker side went unflagged). A voter's first j
votes are combined with Fisher's method, ``-2 sum log p ~ chi-squared(2j)``. The test looks after 5, 10, 20, 40, … votes and at the voter's last vote, spending
``alpha / 2^look`` at each look, so the whole sequence holds ``alpha`` (0.05) however long a voter goes
on; its adjusted p-value is ``min over looks of p_look * 2^look``. Only voters with at least
``MIN_VOTES`` votes are tested. Checked by simulation (``tests/feedback/test_voter_quality.py``): honest
voters are flagged at most ``alpha`` of the time, voters who pick the weaker side or toss a coin on
lopsided pairs are caught.

Flagged voters' votes stay in the store; the leaderboard and preference datasets leave them out unless
asked to include them (``include_flagged``), as they do with votes flagged for naming a model.

Repeated questions. A question asked far more often than others (one person pasting the same prompt
over and over) would weigh its pair's outcome too much: only the first ``cap`` battles of each identical
first question (case and spacing ignored) count (``TRAVELBOT_ARENA_QUESTION_CAP``, default 20); the golden
questions are exempt, since "Battle on a golden question" asks them again and again by design.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from scipy.stats import chi2

from travelbot.jsonl import json_safe

ALPHA = 0.05
MIN_VOTES = 5
FIRST_LOOK = 5  # votes at the first look; each later look doubles it
QUESTION_CAP = 20


@dataclass(frozen=True)
class VoterCheck:
    voter_id: str
    voter_name: str | None
    votes: int
    p_value: float  # adjusted for the looks; 1.0 when not tested
    flagged: bool
    unlikely_votes: int  # votes against the outcome most other votes on the same pair had
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))


def _outcome(row: Mapping[str, Any]) -> tuple[tuple[str, str], int] | None:
    """(pair in alphabetical order, outcome: 0 first wins, 1 second wins, 2 tie), or None if unusable."""
    a, b, winner = row.get("model_a"), row.get("model_b"), row.get("winner")
    if not (isinstance(a, str) and isinstance(b, str)) or a == b or winner not in (
            "model_a", "model_b", "tie", "tie (bothbad)"):
        return None
    outcome = 2 if winner.startswith("tie") else (0 if winner == "model_a" else 1)
    if a > b:
        a, b = b, a
        outcome = {0: 1, 1: 0, 2: 2}[outcome]
    return (a, b), outcome


def _looks(n: int) -> list[int]:
    looks, at = [], FIRST_LOOK
    while at < n:
        looks.append(at)
        at *= 2
    return [*looks, n]


def check_voters(battles: Iterable[Mapping[str, Any]], *, alpha: float = ALPHA, min_votes: int = MIN_VOTES
                 ) -> list[VoterCheck]:
    """The sequential test for every voter with a ``voter_id`` (module docstring); most suspect first."""
    rows = [(row.get("voter_id"), row.get("voter_name"), *found) for row in battles
            if isinstance(row.get("voter_id"), str) and (found := _outcome(row)) is not None]
    totals: dict[tuple[str, str], Counter] = defaultdict(Counter)
    mine: dict[str, dict[tuple[str, str], Counter]] = defaultdict(lambda: defaultdict(Counter))
    names: dict[str, str | None] = {}
    for voter, name, pair, outcome in rows:
        totals[pair][outcome] += 1
        mine[voter][pair][outcome] += 1
        names[voter] = names.get(voter) or name
    checks = []
    by_voter: dict[str, list[tuple[tuple[str, str], int]]] = defaultdict(list)
    for voter, _, pair, outcome in rows:
        by_voter[voter].append((pair, outcome))
    for voter, votes in by_voter.items():
        p_values, unlikely = [], 0
        for pair, outcome in votes:
            others = [totals[pair][o] - mine[voter][pair][o] + 1 for o in range(3)]
            probability = [count / sum(others) for count in others]
            here = probability[outcome]  # mid-p: the less likely outcomes, and half of those as likely as this one
            p_values.append(sum(q for q in probability if q < here - 1e-12)
                            + 0.5 * sum(q for q in probability if abs(q - here) <= 1e-12))
            unlikely += here < max(probability) - 1e-12  # against what most others voted on the pair
        if len(votes) < min_votes:
            checks.append(VoterCheck(voter, names[voter], len(votes), 1.0, False, unlikely,
                                     f"{len(votes)} votes: not tested below {min_votes}."))
            continue
        adjusted, worst_look = 1.0, len(votes)
        for look, at in enumerate(_looks(len(votes)), start=1):
            statistic = -2.0 * sum(math.log(max(p, 1e-300)) for p in p_values[:at])
            value = min(1.0, float(chi2.sf(statistic, 2 * at)) * 2**look)
            if value < adjusted:
                adjusted, worst_look = value, at
        flagged = adjusted < alpha
        evidence = (f"{unlikely} of {len(votes)} votes went against most other votes on the same pair; Fisher's test on the first {worst_look} votes, adjusted for the looks: p = {adjusted:.2g}"
                    + (f" < {alpha}." if flagged else "."))
        checks.append(VoterCheck(voter, names[voter], len(votes), adjusted, flagged, unlikely, evidence))
    return sorted(checks, key=lambda c: (c.p_value, -c.votes, c.voter_id))


def _question(row: Mapping[str, Any]) -> str | None:
    conversation = row.get("conversation_a")
    if not isinstance(conversation, list):
        return None
    first = next((m.get("content") for m in conversation if isinstance(m, Mapping) and m.get("role") == "user"), None)
    return normalise_question(first) if isinstance(first, str) and first.strip() else None


def normalise_question(text: str) -> str:
    return " ".join(text.lower().split())


def counted_battles(battles: list[Mapping[str, Any]], *, include_flagged: bool = False,
                    question_cap: int = QUESTION_CAP, alpha: float = ALPHA, uncapped: frozenset[str] = frozenset()
                    ) -> tuple[list[Mapping[str, Any]], dict[str, int], list[VoterCheck]]:
    """The battles that count (oldest first, as given), what was left out by reason, and the voter checks.

    Left out unless ``include_flagged``: votes flagged for naming a model, and every vote of a voter the
    test flags (tested on the votes not flagged already). Always: battles beyond ``question_cap`` of the
    same first question (0: no cap), except the questions in ``uncapped`` (normalised: the golden questions,
    which "Battle on a golden question" asks again and again by design)."""
    unflagged = [row for row in battles if not row.get("flagged")]
    checks = check_voters(unflagged, alpha=alpha)
    suspect = {c.voter_id for c in checks if c.flagged}
    left_out: Counter[str] = Counter()
    kept, seen = [], Counter()
    for row in battles:
        if not include_flagged and row.get("flagged"):
            left_out["flagged_vote"] += 1
            continue
        if not include_flagged and row.get("voter_id") in suspect:
            left_out["flagged_voter"] += 1
            continue
        question = _question(row)
        if question is not None and question_cap and question not in uncapped:
            seen[question] += 1
            if seen[question] > question_cap:
                left_out["repeated_question"] += 1
                continue
        kept.append(row)
    return kept, dict(left_out), checks


def store_battles(store=None, *, include_flagged: bool = False
                  ) -> tuple[list[Mapping[str, Any]], dict[str, int], list[VoterCheck]]:
    """:func:`counted_battles` over the store's votes, with the configured question cap."""
    from travelbot.config import get_settings
    from travelbot.data.golden import load_golden
    from travelbot.feedback.votes import battle_rows

    golden = frozenset(normalise_question(q.question) for q in load_golden()[0])
    return counted_battles(battle_rows(store), include_flagged=include_flagged,
                           question_cap=get_settings().arena_question_cap, uncapped=golden)
