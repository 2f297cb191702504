"""Questions for corpus passages: from templates, or written by a configurable generator model.

The generator is ``template`` (instant, deterministic) or any variant name — the embedded model or an
OpenAI-compatible endpoint declared in models.toml. Model output that is not a usable question falls
back to the template and is counted, so a weak generator shows up in the manifest. Generations are
seeded and cached under ``$TRAVELBOT_HOME/data/cache/``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from pathlib import Path
from typing import Any

from travelbot.retrieval import Passage, slugify

TEMPLATES: dict[str, tuple[str, ...]] = {
    "when-to-go": ("When is the best time to visit {place}?", "What is the weather like in {place} through the year?"),
    "getting-there-and-around": ("How do I get to {place} and get around once I'm there?",
                                 "What's the easiest way to travel around {place}?"),
    "neighbourhoods": ("Which area should I stay in when visiting {place}?", "What are the best neighbourhoods in {place}?"),
    "sights": ("What are the must-see sights in {place}?", "What should I not miss on a first trip to {place}?"),
    "food": ("What should I eat in {place}, and where?", "What local dishes should I try in {place}?"),
    "budget": ("How much money do I need per day in {place}?", "Is {place} expensive for travellers?"),
    "safety": ("Is {place} safe for tourists, and what should I watch out for?", "Any safety tips for {place}?"),
    "etiquette": ("What local customs should I know before visiting {place}?", "What etiquette matters in {place}?"),
    "events-and-festivals": ("What festivals or events happen in {place} during the year?",
                             "Are there any big events in {place} worth planning a trip around?"),
    "entry-basics": ("Do I need a visa for {place}, and what currency and plugs are used there?",
                     "What are the entry requirements for {place}?"),
}
GENERIC = ("What should I know about {section} for {topic}?", "Any advice on {section} when it comes to {topic}?")
PROMPT = (
    "Write one question that a traveller might ask and that the text below answers. Reply with the question only.\n\n"
    "Text ({title} — {section}):\n{text}"
)


def place_name(title: str) -> str:
    """``Lisbon, Portugal`` -> ``Lisbon``."""
    return title.split(",")[0].strip()


def template_question(passage: Passage, seed: int = 0) -> str:
    """A natural question the passage answers, chosen from templates by a seeded draw."""
    rng = random.Random(f"{seed}:{passage.passage_id}")
    slug = slugify(passage.section)
    if slug in TEMPLATES and passage.metadata.get("kind", "destination") == "destination":
        return rng.choice(TEMPLATES[slug]).format(place=place_name(passage.title))
    return rng.choice(GENERIC).format(section=passage.section.lower(), topic=passage.title.lower())


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{5,}", text.lower())}


def usable_question(text: str, passage: Passage | None = None) -> str | None:
    """The first line of a model's output if it reads as a question (about the passage, when given), else None."""
    text = (text or "").strip()
    quoted = re.search(r"[\"“]([^\"”\n]{10,300}\?)[\"”]", text)  # small models often wrap it: Ask: "...?"
    line = quoted.group(1) if quoted else (text.splitlines()[0].strip() if text else "")
    line = re.sub(r"^((one|a|your)\s+)?(question|q)\s*[:.-]\s*", "", line, flags=re.I).strip().strip('"“”').strip()
    words = line.split()
    if not line.endswith("?") or not 4 <= len(words) <= 40:
        return None
    if passage is not None and not _content_words(line) & _content_words(f"{passage.title} {passage.section} {passage.text}"):
        return None  # a question about something else entirely
    return line


class GenerationCache:
    """A JSONL file of (key -> text), so re-running a build never regenerates what it already has."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, str] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    self._entries[record["key"]] = record["text"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a torn last line from an interrupted run is simply regenerated

    @staticmethod
    def key(*parts: Any) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def get(self, key: str) -> str | None:
        return self._entries.get(key)

    def put_many(self, items: dict[str, str]) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                for key, text in items.items():
                    handle.write(json.dumps({"key": key, "text": text}, ensure_ascii=False) + "\n")
            self._entries.update(items)


def generate_questions(
    passages: list[Passage], generator: str, seed: int, cache_dir: Path, batch_size: int = 32
) -> tuple[list[str], dict[str, int]]:
    """One question per passage and counts by origin (template, model, cached, fallback)."""
    counts = {"template": 0, "model": 0, "cached": 0, "fallback": 0}
    if generator == "template":
        counts["template"] = len(passages)
        return [template_question(p, seed) for p in passages], counts
    from travelbot.models import generate_batch, get_registry

    variant = get_registry().variant(generator)
    cache = GenerationCache(cache_dir / f"questions-{slugify(variant.name)}.jsonl")
    settings = {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 48, "seed": seed}
    keys = [
        GenerationCache.key("question", variant.name, variant.revision, p.passage_id, p.text, settings)
        for p in passages
    ]
    todo = [i for i, key in enumerate(keys) if cache.get(key) is None]
    if todo:
        prompts = [
            [{"role": "user", "content": PROMPT.format(title=passages[i].title, section=passages[i].section,
                                                        text=passages[i].text)}]
            for i in todo
        ]
        outputs = generate_batch(variant, prompts, batch_size=batch_size, **settings)
        cache.put_many({keys[i]: text for i, text in zip(todo, outputs)})
    counts["cached"] = len(passages) - len(todo)
    questions = []
    for passage, key in zip(passages, keys):
        question = usable_question(cache.get(key) or "", passage)
        if question is None:
            counts["fallback"] += 1
            question = template_question(passage, seed)
        else:
            counts["model"] += 1
        questions.append(question)
    return questions, counts
