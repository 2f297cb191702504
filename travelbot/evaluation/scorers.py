"""Every scorer travelbot has, from the declarations beside each one's code, and the lists derived from them.

A new reference metric is one ``ScorerInfo`` and its compute function in ``metrics.py``; ``travelbot eval``,
its help, the Evaluate tab and Agreement's metrics-as-judges pick it up from here.
"""

from __future__ import annotations

from travelbot.evaluation.judge import JUDGE, PAIRWISE
from travelbot.evaluation.metrics import SCORERS as REFERENCE
from travelbot.evaluation.ragas_metrics import RAGAS
from travelbot.evaluation.scores import ScorerInfo

SCORERS: dict[str, ScorerInfo] = {info.name: info for info in (*REFERENCE.values(), RAGAS, JUDGE, PAIRWISE)}
SCORER_NAMES = tuple(SCORERS)
REFERENCE_SCORERS = tuple(name for name, info in SCORERS.items() if info.kind == "reference")
LLM_SCORERS = tuple(name for name, info in SCORERS.items() if info.kind == "llm")  # need a judge endpoint
LIGHT_SCORERS = tuple(name for name, info in SCORERS.items() if info.light)
# A metric that can judge a pair of answers (the higher-scoring one wins) -> the scorer that computes it.
METRIC_SCORERS = {metric: info.name for info in SCORERS.values() for metric in info.judges}
