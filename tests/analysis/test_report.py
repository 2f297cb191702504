"""Tests for travelbot/analysis/report.py: the HTML page and the Markdown summary from a real store."""

from __future__ import annotations

from pathlib import Path

from tests.feedback.conftest import answered_battle, two_variants  # noqa: F401 - a fixture
from travelbot.analysis.judgments import JudgmentItem, import_judgments
from travelbot.analysis.report import write_report
from travelbot.feedback import arena
from travelbot.feedback.voters import Voter
from travelbot.store import Store


def test_report_has_every_section_with_figures(store: Store, two_variants, tmp_path: Path) -> None:  # noqa: F811
    voter = Voter("browser:ana-0000000001")
    for seed in range(3):
        battle = answered_battle(store, two_variants, voter, seed=seed)
        arena.record_vote(battle.id, "model_a", voter, store=store, settings=two_variants)
    import_judgments([JudgmentItem("1", "Q?", "yes", "no", None, {"h1": "A", "h2": "A"}, {"j": {"label": "A"}}),
                      JudgmentItem("2", "Q?", "yes", "no", None, {"h1": "B", "h2": "B"}, {"j": {"label": "A"}})],
                     "tiny", "test", store)
    paths = write_report(tmp_path / "out", store, rounds=200)
    markdown = paths["markdown"].read_text(encoding="utf-8")
    for title in ("## Variants", "## Verdict", "## Automatic metrics", "## Human results",
                  "## Agreement with people (this store)",
                  "## Agreement with people (imported set tiny)"):
        assert title in markdown
    assert "3 blind votes" in markdown and "| j | judge | 2 | 0.500" in markdown
    assert "| RAFT beats QLoRA | undetermined |" in markdown  # 3 votes decide nothing, and the verdict says so
    page = paths["html"].read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.count("plotly-graph-div") >= 5
    assert "<script src=" not in page  # self-contained: plotly.js is inlined, nothing is fetched
