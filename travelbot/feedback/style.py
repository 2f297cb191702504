"""Style control: Bradley–Terry ratings with the answers' style held equal, as LMArena does it.

People often prefer the longer or more formatted answer whatever it says. LMArena's style control
(Chiang et al., "Does style matter? Disentangling style and substance in Chatbot Arena", 2024) adds
style covariates to the Bradley–Terry model and fits them jointly with the strengths:

    P(A beats B) = sigmoid(theta_A - theta_B + sum_s beta_s * x_s)

where, for each style feature s (answer length in tokens, markdown headers, list items, bold spans; each
summed over a side's answers in the battle), ``x_s = (a_s - b_s) / (a_s + b_s)`` (0 when both are 0),
standardised over the battles (mean 0, standard deviation 1). ``theta`` is then the strength a variant
would have if its answers were styled like its opponents'; ``beta_s`` is how much the style itself
moves a vote. Ties count as half a win for each side, as on the raw board, and the strengths carry the
board's weak prior (``leaderboard.prior_precision``); each ``beta`` a Normal(0, 10²) one.

Intervals are the normal approximation at the estimate (the inverse curvature of the penalised
log-likelihood), checked by simulation from known strengths and a known length effect
(``bench/arena_stats.py``: coverage of the strengths' differences and of ``beta``). Battles whose
answers are not stored (an imported row without conversations) cannot be styled and are left out,
counted under ``skipped``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from travelbot.feedback.leaderboard import prior_precision
from travelbot.jsonl import json_safe
from travelbot.schema import WINNERS

STYLES = {  # name -> what is counted in a side's answers
    "length": "answer length in tokens",
    "headers": "markdown headers",
    "lists": "markdown list items",
    "bold": "bold spans",
}
BETA_PRECISION = 0.01  # Normal(0, 10²) on each style coefficient: keeps a constant column finite
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s+\S", re.M)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S", re.M)
_BOLD = re.compile(r"\*\*[^*\n]+?\*\*|__[^_\n]+?__")


@lru_cache(maxsize=1)
def _tokenizer():
    """The MiniLM WordPiece tokenizer (local, fast): lengths only need to be comparable between sides."""
    from tokenizers import Tokenizer

    from travelbot.retrieval import embedder_path

    tokenizer = Tokenizer.from_file(str(embedder_path() / "tokenizer.json"))
    tokenizer.no_truncation()  # its file cuts at 128 tokens and pads to 128: neither suits counting
    tokenizer.no_padding()
    return tokenizer


def style_counts(texts: list[str]) -> np.ndarray:
    """Per text: tokens, headers, list items and bold spans, shape (n, 4) in ``STYLES`` order."""
    tokenizer = _tokenizer()
    lengths = [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)] if texts else []
    return np.array([[lengths[i], len(_HEADER.findall(t)), len(_LIST_ITEM.findall(t)), len(_BOLD.findall(t))]
                     for i, t in enumerate(texts)], dtype=float).reshape(-1, len(STYLES))


def _answers(conversation: Any) -> str | None:
    """A side's assistant answers joined, or None when the battle kept no conversation."""
    if not isinstance(conversation, list):
        return None
    answers = [m.get("content") for m in conversation if isinstance(m, Mapping) and m.get("role") == "assistant"]
    texts = [a for a in answers if isinstance(a, str)]
    return "\n\n".join(texts) if texts else None


@dataclass(frozen=True)
class StyleCoefficient:
    style: str
    description: str
    beta: float  # log-odds per standard deviation of the normalised difference; nan if not estimable
    lower: float
    upper: float
    points: float  # the same in rating points
    sd: float  # standard deviation of the normalised difference over the battles
    sentence: str


@dataclass(frozen=True)
class ControlledRating:
    variant: str
    rating: float  # style-controlled
    lower: float
    upper: float
    raw: float  # plain Bradley–Terry on the same battles
    battles: int
    rank: int  # 1 + variants whose controlled interval lies entirely above


@dataclass
class StyleControl:
    ratings: list[ControlledRating]  # best controlled rating first
    coefficients: list[StyleCoefficient]
    n_battles: int  # battles with both sides' answers, used here
    confidence: float
    skipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))


def _rows(battles: Iterable[Mapping[str, Any]]) -> tuple[list[tuple[str, str, float]], list[str], list[str], dict]:
    """(model_a, model_b, score of A) per usable battle, the texts of each side, and skip counts."""
    rows, texts_a, texts_b, skipped = [], [], [], {}
    for row in battles:
        a, b, winner = row.get("model_a"), row.get("model_b"), row.get("winner")
        reason = None
        if not (isinstance(a, str) and a and isinstance(b, str) and b) or a == b or winner not in WINNERS:
            reason = "not_a_battle"
        else:
            text_a, text_b = _answers(row.get("conversation_a")), _answers(row.get("conversation_b"))
            if text_a is None or text_b is None:
                reason = "no_answers_stored"
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        rows.append((a, b, 0.5 if winner.startswith("tie") else (1.0 if winner == "model_a" else 0.0)))
        texts_a.append(text_a)
        texts_b.append(text_b)
    return rows, texts_a, texts_b, skipped


def normalised_differences(counts_a: np.ndarray, counts_b: np.ndarray) -> np.ndarray:
    """``(a - b) / (a + b)`` per feature, 0 where both sides have none."""
    total = counts_a + counts_b
    return np.divide(counts_a - counts_b, total, out=np.zeros_like(total), where=total > 0)


def fit(design: np.ndarray, scores: np.ndarray, battles_per_variant: np.ndarray, n_strengths: int
        ) -> tuple[np.ndarray, np.ndarray]:
    """MAP of (strengths, betas) for per-battle rows ``design`` (+1 for A's variant, -1 for B's, then the
    standardised style columns) with A's score (1, 0.5, 0); returns the estimate and its covariance."""
    p = design.shape[1]
    precision = np.concatenate([prior_precision(battles_per_variant), np.full(p - n_strengths, BETA_PRECISION)])
    params = np.zeros(p)

    def objective(x: np.ndarray) -> float:
        d = design @ x
        return float((scores * np.logaddexp(0.0, -d) + (1 - scores) * np.logaddexp(0.0, d)).sum()
                     + 0.5 * (precision * x**2).sum())

    def hessian(x: np.ndarray) -> np.ndarray:
        q = expit(design @ x)
        return (design * (q * (1 - q))[:, None]).T @ design + np.diag(precision)

    value = objective(params)
    for _ in range(100):
        grad = design.T @ (expit(design @ params) - scores) + precision * params
        step = np.linalg.solve(hessian(params), grad)
        decrement = float(grad @ step)
        if decrement < 1e-18:
            break
        t = 1.0
        while t > 1e-12:
            candidate = params - t * step
            new_value = objective(candidate)
            if new_value <= value - 1e-4 * t * decrement + 1e-12 * abs(value):
                break
            t *= 0.5
        params, value = candidate, new_value
    return params, np.linalg.inv(hessian(params))


def style_control(battles: Iterable[Mapping[str, Any]], *, confidence: float = 0.95, scale: float = 400.0,
                  base: float = 10.0, center: float = 1000.0) -> StyleControl:
    """Style-controlled ratings with intervals and each style coefficient (module docstring)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"Confidence must lie strictly between 0 and 1 (for example 0.95), not {confidence!r}.")
    rows, texts_a, texts_b, skipped = _rows(battles)
    variants = sorted({name for a, b, _ in rows for name in (a, b)})
    if len(variants) < 2:
        return StyleControl([], [], len(rows), confidence, skipped)
    index = {name: i for i, name in enumerate(variants)}
    k, n = len(variants), len(rows)
    counts = style_counts(texts_a + texts_b)
    x = normalised_differences(counts[:n], counts[n:])
    sd = x.std(axis=0)
    usable = sd > 1e-12  # a feature that never differs between the sides cannot be estimated
    standard = (x[:, usable] - x[:, usable].mean(axis=0)) / sd[usable]
    strengths = np.zeros((n, k))
    strengths[np.arange(n), [index[a] for a, _, _ in rows]] = 1.0
    strengths[np.arange(n), [index[b] for _, b, _ in rows]] = -1.0
    scores = np.array([s for _, _, s in rows])
    per_variant = np.abs(strengths).sum(axis=0)
    to_points = scale / math.log(base)
    z = norm.ppf(0.5 + confidence / 2.0)

    params, covariance = fit(np.hstack([strengths, standard]), scores, per_variant, k)
    centring = np.eye(k) - 1.0 / k
    theta = centring @ params[:k]
    spread = z * np.sqrt(np.diag(centring @ covariance[:k, :k] @ centring)) * to_points
    raw_params, _ = fit(strengths, scores, per_variant, k)
    raw = centring @ raw_params
    rating = center + theta * to_points
    order = sorted(range(k), key=lambda i: (-rating[i], variants[i]))
    lower, upper = rating - spread, rating + spread
    ratings = [ControlledRating(variants[i], float(rating[i]), float(lower[i]), float(upper[i]),
                                float(center + raw[i] * to_points), int(per_variant[i]),
                                1 + int(np.sum(lower > upper[i]))) for i in order]

    coefficients, column = [], k
    for s, (name, description) in enumerate(STYLES.items()):
        if not usable[s]:
            coefficients.append(StyleCoefficient(name, description, math.nan, math.nan, math.nan, math.nan,
                                                 float(sd[s]), f"{description}: never differed between the two sides."))
            continue
        beta, half = float(params[column]), float(z * math.sqrt(covariance[column, column]))
        column += 1
        coefficients.append(StyleCoefficient(name, description, beta, beta - half, beta + half, beta * to_points,
                                             float(sd[s]), _sentence(description, beta, half, to_points, confidence)))
    return StyleControl(ratings, coefficients, n, confidence, skipped)


def _sentence(description: str, beta: float, half: float, to_points: float, confidence: float) -> str:
    level = f"{confidence:.0%}"
    points = f"{beta * to_points:+.0f} rating points [{(beta - half) * to_points:+.0f}, {(beta + half) * to_points:+.0f}]"
    per = "per standard deviation of the normalised difference between the two sides"
    if beta - half > 0:
        return f"People here prefer the side with more {description}: {points} {per} ({level} interval above 0)."
    if beta + half < 0:
        return f"People here prefer the side with fewer {description}: {points} {per} ({level} interval below 0)."
    return f"No measurable preference for {description} yet: {points} {per} ({level} interval includes 0)."
