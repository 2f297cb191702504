"""The Agreement tab, served for real and driven through gradio_client, on PandaLM's imported judgments."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ui.conftest import served_tab
from travelbot.ui import agreement_tab

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with served_tab(agreement_tab.build) as client:
        yield client


def test_judges_and_metrics_on_an_imported_set(client, pandalm_dir) -> None:
    from travelbot.analysis.judgments import import_judgments, load_pandalm

    items, _ = load_pandalm(pandalm_dir)
    import_judgments(items[:120], "pandalm-ui", "test")
    note, table, chart, rankings = client.predict("pandalm-ui", ["rougeL"], "gpt-3.5-turbo", 0,
                                                  api_name="/agreement")
    assert "Set **pandalm-ui**: 120 items" in note and "Fleiss' kappa" in note
    # the metric scored against gpt-3.5-turbo's own reference answers says so, and on how many items
    metric_n = next(row[2] for row in table["data"] if row[0] == "rougeL")
    assert ("against the reference answer gpt-3.5-turbo wrote while judging" in note
            and f"cover {metric_n} of 120 items" in note)
    names = [row[0] for row in table["data"]]
    assert names == ["gpt-3.5-turbo", "pandalm-7b", "rougeL", "longer response"]
    assert all("[" in row[3] for row in table["data"])  # every accuracy carries its interval
    assert chart is not None
    # PandaLM's items name the two models: each judge's ranking of the five against people's
    assert [row[:3] for row in rankings["data"]] == [["gpt-3.5-turbo", "judge", 5], ["pandalm-7b", "judge", 5],
                                                     ["rougeL", "metric", 5], ["longer response", "baseline", 5]]
    assert all(row[3].endswith("of 10 pairs)") for row in rankings["data"])


def test_store_source_and_errors(client) -> None:
    note, table, _, rankings = client.predict("store", ["bleu"], "", 0, "all", [], "overall", api_name="/agreement")
    assert "arena votes on golden questions" in note and table["data"][0][0] == "bleu"
    assert not any(row and row[0] for row in rankings["data"])  # no votes: no board to rank against
    assert "No LLM judge verdicts on the votes yet: set TRAVELBOT_JUDGE_MODEL" in note  # and how to get them
    note, *_ = client.predict("store", ["bleu"], "", 0, "dev", ["smollm2-135m"], "relevance", api_name="/agreement")
    assert "rated on *relevance*" in note
    # too little store data says what counts and how to get more
    assert "a vote counts when its battle asked a golden question" in note and "intervals are too wide" in note
    note, *_ = client.predict("no-such-set", ["bleu"], "", 0, "all", [], "overall", api_name="/agreement")
    assert "No judgment set named 'no-such-set'" in note


def test_store_views_follow_the_split_variants_and_criterion(store) -> None:
    from tests.analysis.test_store_agreement import _rated_answers
    from travelbot.data.golden import golden_path, load_golden

    questions = load_golden(golden_path())[0]
    _rated_answers(store, [q for q in questions if q.split == "dev"][:5] + [q for q in questions
                                                                          if q.split == "test"][:3])
    scatter, rankings, criteria, heatmap = agreement_tab.people_views(["bleu"], "bleu", "all", [], "overall", store)
    assert sum(len(trace.x) for trace in scatter.data if trace.mode == "markers") == 16
    assert {row[0] for row in rankings.value["data"]} >= {"v-good", "v-bad"}
    assert [row[:3] for row in criteria] == [["relevance", "judge_relevance", 16]]
    assert list(heatmap.data[0].x) == ["bleu", "judge_relevance"]

    scatter, rankings, criteria, _ = agreement_tab.people_views(["bleu"], "bleu", "dev", ["v-good"], "relevance",
                                                                 store)
    points = [y for trace in scatter.data if trace.mode == "markers" for y in trace.y]
    assert points == [4] * 5 and scatter.layout.yaxis.title.text == "mean relevance rating (1–5)"
    assert [row[0] for row in rankings.value["data"]] == ["v-good"]
    assert criteria[0][2] == 5


def test_headline_chart_says_when_there_is_nothing_to_compare() -> None:
    empty = agreement_tab.headline_chart(["bleu"], [{"value": None, "lower": None, "upper": None, "n": 0}], None, "t")
    assert empty.layout.annotations[0].text == "No human judgments to compare with yet" and not empty.data
    full = agreement_tab.headline_chart(["bleu"], [{"value": 0.6, "lower": 0.5, "upper": 0.7, "n": 40}],
                                        {"value": 0.9}, "t")
    assert list(full.data[0].y) == [0.6] and list(full.data[0].error_y.array) == [pytest.approx(0.1)]


def test_store_counts_warning_only_under_thirty() -> None:
    from travelbot.ui.agreement_tab import store_counts_warning

    assert store_counts_warning(30, 45) == ""
    assert "Only 29 votes count" in store_counts_warning(29, 45) and "rated answers" not in store_counts_warning(29, 45)
    assert "Only 3 rated answers count" in store_counts_warning(31, 3)
