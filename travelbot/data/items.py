"""Question-answer items, the common ground of every method's dataset.

An item is a question, its answer and the oracle passage that holds the answer. Corpus passages and
Reddit threads both become items; SFT, RAFT and preference builders read items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from travelbot.retrieval import Passage

BOT_SUFFIXES = ("bot", "Bot", "_bot")


@dataclass
class QAItem:
    question: str
    answer: str
    oracle: Passage
    source: str  # "corpus" | "reddit" | "folder"
    meta: dict[str, Any] = field(default_factory=dict)


def items_from_passages(passages: list[Passage], questions: list[str], source: str) -> list[QAItem]:
    return [QAItem(q, p.text, p, source) for p, q in zip(passages, questions)]


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text or ""))


def reddit_threads(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Posts with their top-level comments, from raw Reddit JSONL records."""
    threads: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("kind") == "post":
            threads.setdefault(record["id"], {"comments": []})["post"] = record
    for record in records:
        if record.get("kind") == "comment" and record.get("parent_id") == record.get("post_id"):
            thread = threads.get(record.get("post_id"))
            if thread is not None:
                thread["comments"].append(record)
    return {pid: t for pid, t in threads.items() if "post" in t}


def reddit_question(post: dict[str, Any]) -> str:
    title, body = (post.get("title") or "").strip(), (post.get("body") or "").strip()
    return f"{title}\n\n{body}".strip() if body else title


def good_answers(comments: list[dict[str, Any]], min_score: int, min_words: int = 15, max_words: int = 400) -> list[dict]:
    """Top-level answers that pass the quality filter (score and length), best first."""
    keep = [
        c for c in comments
        if isinstance(c.get("score"), (int, float)) and c["score"] >= min_score
        and min_words <= _words(c.get("body", "")) <= max_words
        and not str(c.get("author") or "").endswith(BOT_SUFFIXES)
    ]
    return sorted(keep, key=lambda c: c["score"], reverse=True)


def items_from_reddit(records: list[dict[str, Any]], min_score: int = 3, answers_per_question: int = 1) -> list[QAItem]:
    """Question -> best answers, as the study built its SFT data from Reddit."""
    items = []
    for post_id, thread in reddit_threads(records).items():
        post = thread["post"]
        question = reddit_question(post)
        if _words(question) < 3:
            continue
        for comment in good_answers(thread["comments"], min_score)[:answers_per_question]:
            oracle = Passage(
                passage_id=f"reddit-{post_id}#{comment['id']}", doc_id=f"reddit-{post_id}",
                title=post.get("title") or post_id, section=f"answer by score {comment['score']}",
                text=comment["body"].strip(), metadata={"kind": "reddit", "subreddit": post.get("subreddit")},
            )
            items.append(QAItem(question, comment["body"].strip(), oracle, "reddit",
                                {"post_id": post_id, "comment_id": comment["id"], "score": comment["score"],
                                 "permalink": comment.get("permalink")}))
    return items
