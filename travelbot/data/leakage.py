"""The leakage check: no training question may be (nearly) a golden test question."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any


def normalize(text: str) -> str:
    """Lowercase, accents, apostrophes and punctuation removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'")).encode("ascii", "ignore").decode().lower()
    text = text.replace("'", "")
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9]+", " ", text)).strip()


@dataclass
class LeakageReport:
    threshold: float
    checked: int = 0
    golden: int = 0
    exact: int = 0
    similar: int = 0
    max_similarity_kept: float = 0.0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold, "checked": self.checked, "golden_test_questions": self.golden,
            "dropped_exact": self.exact, "dropped_similar": self.similar,
            "max_similarity_kept": round(self.max_similarity_kept, 4), "examples": self.examples[:10],
        }


def find_leaks(questions: list[str], golden: list[str], threshold: float = 0.9) -> tuple[list[bool], LeakageReport]:
    """Which questions leak a golden question (same normalised text, or MiniLM cosine >= threshold)."""
    import numpy as np

    from travelbot.retrieval import embed

    report = LeakageReport(threshold=threshold, checked=len(questions), golden=len(golden))
    if not questions or not golden:
        return [False] * len(questions), report
    golden_norm = {normalize(g): g for g in golden}
    q_vectors = np.asarray(embed(questions), dtype=np.float32)
    g_vectors = np.asarray(embed(golden), dtype=np.float32)
    q_vectors /= np.linalg.norm(q_vectors, axis=1, keepdims=True) + 1e-12
    g_vectors /= np.linalg.norm(g_vectors, axis=1, keepdims=True) + 1e-12
    similarity = q_vectors @ g_vectors.T
    leaks = []
    for index, question in enumerate(questions):
        best = int(similarity[index].argmax())
        score = float(similarity[index, best])
        if normalize(question) in golden_norm:
            report.exact += 1
            report.examples.append({"question": question, "golden": golden_norm[normalize(question)], "how": "exact"})
            leaks.append(True)
        elif score >= threshold:
            report.similar += 1
            report.examples.append({"question": question, "golden": golden[best], "how": f"cosine {score:.3f}"})
            leaks.append(True)
        else:
            report.max_similarity_kept = max(report.max_similarity_kept, score)
            leaks.append(False)
    return leaks, report
