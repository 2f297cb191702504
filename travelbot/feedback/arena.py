"""Anonymous battles: two distinct variants answer the same questions as "A" and "B", a person votes.

The server keeps everything about a battle in the store under its id; the browser only ever holds
the id and the answers' text, so which variant is A or B cannot leak before the vote. Pairs are drawn
with configurable weights and balanced so every pair gets battles (see :func:`draw_pair`).
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from travelbot.chat import ParallelReplies, Reply, reply, reply_length
from travelbot.data.raft import shown_answer
from travelbot.config import Settings, get_settings
from travelbot.errors import InvalidInputError, TravelbotError
from travelbot.feedback import repository
from travelbot.feedback.pairing import active_weights
from travelbot.feedback.voters import Voter, flag_reason, flag_words
from travelbot.models import Registry, get_registry
from travelbot.schema import WINNERS, utc_now
from travelbot.store import Store, get_store

log = logging.getLogger(__name__)
ARENA_TEMPERATURE = 0.7  # both sides decode with the same settings, so only the variants differ


@dataclass
class Battle:
    """One anonymous battle; ``variant_a``/``variant_b`` never leave the server before the vote."""

    id: str
    variant_a: str
    variant_b: str
    conversation_a: str | None
    conversation_b: str | None
    voter_id: str
    voter_name: str | None
    settings: dict
    source: str
    created_at: datetime


@dataclass
class Exchange:
    """One question in a battle with both sides' answers as people saw them."""

    prompt: str
    answer_a: str
    answer_b: str
    finished: bool = True  # False when a side failed or was stopped


@dataclass
class VoteResult:
    """A recorded vote and the reveal: which variant was A and which was B."""

    battle_id: str
    winner: str
    model_a: str
    model_b: str
    method_a: str | None
    method_b: str | None
    flagged: bool
    flag_reason: str | None
    id: int
    judged: bool = False  # sent to the configured LLM judge (in the background)


def arena_weights(settings: Settings | None = None, registry: Registry | None = None) -> dict[str, float]:
    """Each battling variant's weight: every registered variant 1 unless ``TRAVELBOT_ARENA_WEIGHTS`` says
    otherwise ("name=2,other=0.5"; 0 leaves a variant out; "*=w" sets the weight of the ones not named)."""
    settings = settings or get_settings()
    names = list((registry or get_registry(settings)).variants())
    given: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in settings.arena_weights.split(","))):
        name, sep, value = part.partition("=")
        try:
            weight = float(value) if sep else float("nan")
        except ValueError:
            weight = float("nan")
        if not weight >= 0 or weight == float("inf"):
            raise TravelbotError(f"TRAVELBOT_ARENA_WEIGHTS has {part!r}; write name=weight pairs with finite "
                                 "weights >= 0, e.g. a=2,b=1 (and *=0 to leave out every variant not named).")
        given[name.strip()] = weight
    default = given.get("*", 1.0)
    weights = {name: given.get(name, default) for name in names}
    return {name: weight for name, weight in weights.items() if weight > 0}


def draw_pair(weights: Mapping[str, float], counts: Mapping[frozenset, int], rng: random.Random,
              among: Callable[[frozenset], bool] | None = None, votes: list[Mapping] | None = None) -> tuple[str, str]:
    """Two distinct variants in random left/right order.

    Each pair's target share of battles is proportional to the product of its variants' weights; a pair
    is drawn with probability proportional to how far it lags behind its target (never negative), so
    new variants and rare pairs catch up and every pair gets battles. ``among`` narrows the pairs drawn
    from (when it leaves any). Given the ``votes`` so far (battle rows), the active rule of
    ``feedback.pairing`` draws instead once every pair has a few votes.
    """
    names = sorted(weights)
    if len(names) < 2:
        raise TravelbotError("The arena needs at least two variants; add an adapter or a variant in models.toml.")
    pairs = [frozenset((a, b)) for i, a in enumerate(names) for b in names[i + 1:]]
    if among is not None and any(among(p) for p in pairs):
        pairs = [p for p in pairs if among(p)]
    target = {p: weights[min(p)] * weights[max(p)] for p in pairs}
    total_target, total = sum(target.values()), sum(counts.get(p, 0) for p in pairs)
    active = active_weights(pairs, votes) if votes is not None else None
    if active is not None:
        pair = rng.choices(pairs, weights=[w * target[p] for w, p in zip(active, pairs, strict=True)])[0]
    else:
        deficit = [max(target[p] / total_target * (total + 1) - counts.get(p, 0), 0.0) for p in pairs]
        pair = rng.choices(pairs, weights=deficit if sum(deficit) > 0 else [target[p] for p in pairs])[0]
    a, b = sorted(pair)
    return (a, b) if rng.random() < 0.5 else (b, a)


def pair_counts(store: Store) -> dict[frozenset, int]:
    """Battles started so far per unordered pair of variants."""
    counts: dict[frozenset, int] = {}
    for a, b, n in repository.battle_pair_counts(store):
        counts[frozenset((a, b))] = counts.get(frozenset((a, b)), 0) + n
    return counts


def start_battle(voter: Voter, *, store: Store | None = None, settings: Settings | None = None,
                 rng: random.Random | None = None) -> Battle:
    """Draw a pair and open a battle for this voter (one conversation per side)."""
    settings = settings or get_settings()
    store = store or get_store(settings)
    counts = pair_counts(store)
    variants = get_registry(settings).variants()
    method = lambda name: variants[name].method if name in variants else None  # noqa: E731

    def base_and_tuned(pair: frozenset) -> bool:
        return sorted(method(n) == "base" for n in pair) == [False, True]

    # The very first battle puts a base against a fine-tuned variant: what fine-tuning changed, first.
    votes = None
    if settings.arena_pairing == "active" and counts:
        from travelbot.feedback.voter_quality import store_battles

        votes = store_battles(store)[0]
    a, b = draw_pair(arena_weights(settings), counts, rng or random.SystemRandom(),
                     among=None if counts else base_and_tuned, votes=votes)
    battle = Battle(
        id=uuid.uuid4().hex, variant_a=a, variant_b=b,
        conversation_a=store.new_conversation(kind="arena", client_id=voter.id),
        conversation_b=store.new_conversation(kind="arena", client_id=voter.id),
        voter_id=voter.id, voter_name=voter.name,
        settings={"temperature": ARENA_TEMPERATURE, "max_new_tokens": settings.max_new_tokens,
                  "max_turns": settings.arena_max_turns},
        source="arena", created_at=utc_now())
    repository.insert_battle(store, battle.__dict__)
    return battle


def get_battle(battle_id: str | None, store: Store | None = None) -> Battle:
    store = store or get_store()
    row = repository.battle_row(store, battle_id or "")
    if row is None:
        raise InvalidInputError("That battle does not exist; press “New round” to start one.")
    return Battle(**row)


def exchanges(battle: Battle, store: Store | None = None) -> list[Exchange]:
    """The battle's questions and both answers so far, oldest first."""
    store = store or get_store()
    side_a = {t.turn_index: t for t in store.turns(battle.conversation_a)} if battle.conversation_a else {}
    side_b = {t.turn_index: t for t in store.turns(battle.conversation_b)} if battle.conversation_b else {}
    result = []
    for index in sorted(set(side_a) & set(side_b)):
        a, b = side_a[index], side_b[index]
        finished = all(t.error is None and t.finish_reason in ("stop", "length") for t in (a, b))
        result.append(Exchange(a.prompt or "", shown_answer(a), shown_answer(b), finished))
    return result


def has_vote(battle_id: str, store: Store) -> bool:
    return repository.battle_has_vote(store, battle_id)


_busy: set[str] = set()  # battles answering right now in this process
_busy_lock = threading.Lock()


class BattleRound:
    """Both sides answering one question; iterate to stream (yields after every poll), then read
    ``texts`` and ``errors``. Errors are phrased without the variants' names."""

    def __init__(self, battle: Battle, replies: tuple[Reply, Reply]) -> None:
        self.battle = battle
        self.replies = replies
        self._parallel = ParallelReplies(list(replies))

    @property
    def texts(self) -> tuple[str, str]:
        """What each side shows now: while streaming only final answers, never a RAFT side's reasoning."""
        return self.replies[0].streamed_answer, self.replies[1].streamed_answer

    @property
    def done(self) -> bool:
        return all(r.done for r in self.replies)

    @property
    def errors(self) -> dict[str, str]:
        """Why a side failed, as one fixed sentence unless it was the person's own input (a back-end's own
        message can name the model, its endpoint or its files)."""
        return {"AB"[i]: public_error(exc) for i, exc in self._parallel.failures.items()}

    def __iter__(self) -> Iterator[None]:
        try:
            yield from self._parallel
        finally:
            self.close()

    def close(self) -> None:
        """Let the battle take votes and questions again (also when the stream never started)."""
        with _busy_lock:
            _busy.discard(self.battle.id)


BACKEND_FAILED = "something went wrong on the server (the details are in its log)"


def public_error(exc: BaseException) -> str:
    """A failure as a battle may show it: the person's own input errors as they are, anything else fixed."""
    if isinstance(exc, InvalidInputError):
        return anonymise(str(exc))
    log.warning("arena answer failed: %s: %s", type(exc).__name__, exc)
    return BACKEND_FAILED


def anonymise(message: str, registry: Registry | None = None) -> str:
    """An error message with every variant and base name replaced, so it cannot reveal a side."""
    registry = registry or get_registry()
    names = {*registry.variants(), *registry.bases()}
    for name in sorted(names, key=len, reverse=True):
        message = message.replace(name, "a model")
    return message


def ask(battle_id: str, message: str, voter: Voter, *, store: Store | None = None,
        settings: Settings | None = None) -> BattleRound:
    """Put the voter's next question to both sides of their battle."""
    settings = settings or get_settings()
    store = store or get_store(settings)
    battle = get_battle(battle_id, store)
    if battle.voter_id != voter.id:
        raise InvalidInputError("This battle belongs to someone else; press “New round” to start your own.")
    if has_vote(battle.id, store):
        raise InvalidInputError("This battle already has your vote; press “New round” for another.")
    history = exchanges(battle, store)
    limit = int(battle.settings.get("max_turns", settings.arena_max_turns))
    if len(history) >= limit:
        raise InvalidInputError(f"A battle has at most {limit} questions; vote now, then start a new round.")
    with _busy_lock:
        if battle.id in _busy:
            raise InvalidInputError("Both models are still answering; wait for them to finish.")
        _busy.add(battle.id)
    try:
        registry = get_registry(settings)
        temperature = battle.settings.get("temperature", ARENA_TEMPERATURE)
        length = battle.settings.get("max_new_tokens", settings.max_new_tokens)
        sides = [(registry.variant(name), conversation, side) for name, conversation, side in (
            (battle.variant_a, battle.conversation_a, "a"), (battle.variant_b, battle.conversation_b, "b"))]
        replies = tuple(
            reply(variant, message, _conversation(history, side), conversation_id=conversation, client_id=voter.id,
                  store=store, temperature=temperature, max_new_tokens=reply_length(variant, length))
            for variant, conversation, side in sides)
    except BaseException as err:
        with _busy_lock:
            _busy.discard(battle.id)
        if isinstance(err, Exception) and not isinstance(err, InvalidInputError):
            raise TravelbotError(public_error(err)) from None
        raise
    return BattleRound(battle, replies)  # type: ignore[arg-type]


def waits_for_guides(battle_id: str, registry: Registry | None = None) -> bool:
    """Whether a side of this battle retrieves passages and the retriever is still loading (the first
    question after a restart then takes tens of seconds)."""
    from travelbot.data.corpus import corpus_retriever_ready

    if corpus_retriever_ready():
        return False
    variants = (registry or get_registry()).variants()
    battle = get_battle(battle_id)
    return any(variants[n].retriever for n in (battle.variant_a, battle.variant_b) if n in variants)


def _conversation(history: list[Exchange], side: str) -> list[dict[str, str]]:
    return [m for x in history for m in ({"role": "user", "content": x.prompt},
                                         {"role": "assistant", "content": getattr(x, f"answer_{side}")})]


def record_vote(battle_id: str, winner: str, voter: Voter, *, store: Store | None = None,
                settings: Settings | None = None) -> VoteResult:
    """Record the voter's verdict on their battle (once) and reveal the two variants. ``winner`` is FastChat's:
    model_a, model_b, tie or "tie (bothbad)" (each face maps its own buttons onto these).

    Refused, with a sentence, when the battle is someone else's, is still answering, has no complete
    answer yet, already has a vote, or the voter reached today's cap. A vote on answers that name a
    model or vendor is kept but flagged (left out of the leaderboard by default).
    """
    settings = settings or get_settings()
    store = store or get_store(settings)
    if winner not in WINNERS:
        raise InvalidInputError(f"Unknown vote {winner!r}; choose one of {', '.join(WINNERS)}.")
    battle = get_battle(battle_id, store)
    if battle.voter_id != voter.id:
        raise InvalidInputError("Only the person who ran this battle can vote on it.")
    with _busy_lock:
        busy = battle.id in _busy
    if busy:
        raise InvalidInputError("Wait until both answers have finished, then vote.")
    history = exchanges(battle, store)
    if not any(x.answer_a.strip() and x.answer_b.strip() for x in history):
        raise InvalidInputError("Ask a question and let both models answer before voting.")
    registry = get_registry(settings)
    names = [*registry.variants(), *registry.bases(), battle.variant_a, battle.variant_b]
    reason = flag_reason([x.answer_a for x in history] + [x.answer_b for x in history], flag_words(names, settings))
    row = {
        "battle_id": battle.id, "model_a": battle.variant_a, "model_b": battle.variant_b, "winner": winner,
        "judge": f"human:{voter.id}", "voter_id": voter.id, "voter_name": voter.name,
        "conversation_a": _conversation(history, "a"), "conversation_b": _conversation(history, "b"),
        "turns": len(history), "settings": battle.settings, "flagged": reason is not None, "flag_reason": reason,
        "source": battle.source, "created_at": utc_now()}
    added = repository.add_vote(store, row, since=row["created_at"] - timedelta(days=1),
                                per_day=settings.votes_per_day)
    if added.refused == "voted":
        raise InvalidInputError("This battle already has a vote.")
    if added.id is None:
        raise InvalidInputError(f"You have cast {added.recent} votes in the last 24 hours, the most allowed; "
                                "thank you — come back tomorrow.")
    judged = False
    if reason is None:
        from travelbot.feedback.battle_judge import judge_after_vote

        judged = judge_after_vote(battle.id, settings, store) is not None  # the LLM judge's verdict, beside the vote
    variants = registry.variants()
    method = lambda name: variants[name].method if name in variants else None
    return VoteResult(battle.id, winner, battle.variant_a, battle.variant_b, method(battle.variant_a),
                      method(battle.variant_b), reason is not None, reason, added.id, judged)


def suggest_question(rng: random.Random | None = None, settings: Settings | None = None) -> str:
    """A random golden question to start a battle with."""
    from travelbot.data.golden import golden_path, load_golden

    questions, _ = load_golden(golden_path(settings))
    if not questions:
        raise TravelbotError("There are no golden questions to suggest; type your own question.")
    return (rng or random.SystemRandom()).choice(questions).question
