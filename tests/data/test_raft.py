"""RAFT examples (oracle + hard negatives, quoted reasoning) and the post-processor."""

from __future__ import annotations

import pytest

from travelbot.data.items import QAItem
from travelbot.data.raft import ANSWER, BEGIN_QUOTE, END_QUOTE, build_raft, parse_raft_answer, split_sentences
from travelbot.retrieval import Passage, Retriever

PASSAGES = [
    Passage("lisbon#getting-there-and-around", "lisbon", "Lisbon, Portugal", "Getting there and around",
            "The metro runs from the airport to the centre in about 25 minutes. A Viva Viagem card costs about "
            "€0.50 and each ride about €1.85. Tram 28 climbs through Alfama and Graça."),
    Passage("lisbon#food", "lisbon", "Lisbon, Portugal", "Food",
            "Pastéis de nata are custard tarts sold everywhere. Grilled sardines are a June tradition. "
            "Bifanas are pork sandwiches that cost about €3."),
    Passage("porto#food", "porto", "Porto, Portugal", "Food",
            "The francesinha is a layered sandwich under a beer sauce. Port wine lodges in Gaia offer tastings."),
    Passage("rome#getting-there-and-around", "rome", "Rome, Italy", "Getting there and around",
            "The Leonardo Express train links Fiumicino airport and Termini in 32 minutes for €14."),
    Passage("kyoto#when-to-go", "kyoto", "Kyoto, Japan", "When to go",
            "Cherry blossoms peak in early April and autumn leaves in late November. Summer is humid."),
]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    from travelbot.config import Settings

    return Retriever(PASSAGES, Settings(home=tmp_path_factory.mktemp("raft-home")))


def test_examples_hold_oracle_and_hard_negatives_with_quoted_reasoning(retriever):
    items = [QAItem("How do I get from Lisbon airport into town?", PASSAGES[0].text, PASSAGES[0], "corpus")] * 20
    examples = build_raft(items, retriever, distractors=3, oracle_fraction=0.5, seed=1)
    with_oracle = [e for e in examples if e["has_oracle"]]
    assert 4 <= len(with_oracle) <= 16  # about half
    for example in examples:
        assert len(example["document_ids"]) == 4
        assert ("lisbon#getting-there-and-around" in example["document_ids"]) == example["has_oracle"]
        user, assistant = example["messages"]
        assert user["content"].count("<DOCUMENT>") == 4 and user["content"].endswith(items[0].question)
        target = assistant["content"]
        assert BEGIN_QUOTE in target and END_QUOTE in target and ANSWER in target
        quoted = target.split(BEGIN_QUOTE)[1].split(END_QUOTE)[0].strip()
        assert quoted in PASSAGES[0].text.replace("\n", " ")
    negatives = {d for e in examples for d in e["document_ids"]} - {"lisbon#getting-there-and-around"}
    assert "rome#getting-there-and-around" in negatives  # the most similar wrong passage is a hard negative


def test_trimmed_documents_and_concise_answers_fit_a_small_model(retriever):
    long = Passage("lisbon#getting-there-and-around", "lisbon", "Lisbon, Portugal", "Getting there and around",
                   PASSAGES[0].text + " Ferries cross the Tagus to Cacilhas every few minutes for about €1.40. "
                   "Taxis are metered and cheap by European standards. Walking means steep hills and slippery "
                   "cobbles, so wear good shoes.")
    item = QAItem("How do I get from Lisbon airport into town?", long.text, long, "corpus")
    [example] = build_raft([item], retriever, distractors=1, oracle_fraction=1.0, passage_sentences=2,
                           answer_sentences=2)
    user, assistant = example["messages"]
    assert user["content"].count("<DOCUMENT>") == 2 and len(example["document_ids"]) == 2
    oracle_block = next(b for b in user["content"].split("<DOCUMENT>") if b.startswith("Lisbon, Portugal — Getting"))
    assert "airport to the centre" in oracle_block and "cobbles" not in oracle_block  # the question's sentences
    parsed = parse_raft_answer(assistant["content"])
    assert parsed.well_formed and len(split_sentences(parsed.answer)) == 2 and "airport" in parsed.answer
    assert all(q in oracle_block.replace("\n", " ") for q in parsed.quotes)  # quotes are still verbatim
    whole = build_raft([item], retriever, distractors=1, oracle_fraction=1.0)[0]
    assert parse_raft_answer(whole["messages"][1]["content"]).answer == long.text  # 0 keeps everything


def test_post_processor_separates_answer_reasoning_and_quotes():
    raw = (f"##Reason: The guide says {BEGIN_QUOTE} The metro takes 25 minutes. {END_QUOTE} and "
           f"{BEGIN_QUOTE} A ride costs €1.85. {END_QUOTE}\n\n{ANSWER} Take the red metro line; about 25 minutes.")
    parsed = parse_raft_answer(raw)
    assert parsed.answer == "Take the red metro line; about 25 minutes."
    assert parsed.quotes == ["The metro takes 25 minutes.", "A ride costs €1.85."]
    assert "##" not in parsed.reasoning and "“ The metro" in parsed.reasoning
    assert parsed.well_formed


@pytest.mark.parametrize(
    "raw, answer",
    [
        ("Just take the metro.", "Just take the metro."),
        (f"##Reason: {BEGIN_QUOTE} Metro {END_QUOTE} only", "“ Metro ” only"),
        (f"##Reason: thinking {ANSWER}   ", "thinking"),
        ("", ""),
    ],
)
def test_post_processor_tolerates_malformed_output(raw, answer):
    parsed = parse_raft_answer(raw)
    assert parsed.answer == answer
    assert not parsed.well_formed or raw == ""


def test_sentence_split_ignores_bullets_and_fragments():
    assert split_sentences("- Tram 28 is old and slow.\n- Go early in the day. Ok.") == [
        "Tram 28 is old and slow.", "Go early in the day."
    ]


def test_documents_follow_the_retrievers_ranking_with_the_oracle_at_its_rank(retriever):
    question = "What does a ride on the Lisbon metro cost?"
    item = QAItem(question, PASSAGES[0].text, PASSAGES[0], "corpus")
    ranked = [h.passage_id for h in retriever.retrieve(question, 3)]
    [example] = build_raft([item], retriever, distractors=2, oracle_fraction=1.0)
    assert example["document_ids"] == ranked  # as chat serves them: the oracle where the retriever ranks it
    # A question the retriever answers with other passages first: the oracle keeps its (lower) rank.
    other = QAItem("When do cherry blossoms peak in Kyoto?", PASSAGES[0].text, PASSAGES[0], "corpus")
    [example] = build_raft([other], retriever, distractors=1, oracle_fraction=1.0)
    assert example["document_ids"][0] == "kyoto#when-to-go" and example["document_ids"][1] == PASSAGES[0].passage_id
    orders = {tuple(e["document_ids"]) for e in build_raft([item] * 12, retriever, distractors=2, oracle_fraction=1.0,
                                                            order="shuffled")}
    assert len(orders) > 1  # the RAFT paper's random order is still there
    with pytest.raises(ValueError):
        build_raft([item], retriever, order="random")


def test_streaming_view_shows_reasoning_as_text_then_only_the_final_answer():
    from travelbot.data.raft import streaming_view

    raw = ("##Reason: The question is answered in the food section of \"Lisbon\". It says ##begin_quote## Pastéis "
           "de nata are best warm. ##end_quote## These lines give the facts the answer needs.\n\n<ANSWER>: Eat them warm.")
    seen = [streaming_view(raw[:end]) for end in range(1, len(raw) + 1)]
    assert all("##" not in view and "<ANS" not in view and "begin_quote" not in view for view in seen)
    cut = raw.index("<ANSWER>:")
    assert seen[cut - 1].startswith("*Reading the guides:* The question is answered")
    assert "“ Pastéis de nata are best warm. ”" in seen[cut - 1]
    assert seen[-1] == "Eat them warm." and streaming_view("") == ""
    assert streaming_view("Plain text with no markers") == "*Reading the guides:* Plain text with no markers"
