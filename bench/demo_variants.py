"""What each variant does on the golden questions: the table behind the shipped demo variants. Prints JSON.

    python bench/demo_variants.py [--variants smollm2-135m,smollm2-qlora,...] [--split test] [--run ID]
                                  [--set temperature=0.2 --set repetition_penalty=1.0]

Runs `travelbot eval` (lexical, BERTScore, MiniLM similarity, length) over the split — or summarises an
earlier run with ``--run`` — and adds, per variant: the share of answers that carry RAFT's final-answer
marker (``<ANSWER>:``; RAFT-trained variants only), the share that ended on their own (EOS) within the
length limit, and the mean answer length in tokens, each share with its Wilson 95% interval. Metric means
carry their bootstrap 95% intervals from the run. Evaluation decodes greedily with repetition penalty 1.1,
each variant with its own ``max_new_tokens`` as served (256; 384 for RAFT-format variants, whose quotes come
before the answer) unless ``TRAVELBOT_MAX_NEW_TOKENS`` sets one for all; the run's settings are printed under
``settings``. ``--set`` changes a setting for every variant (e.g. ``--set max_new_tokens=256``). Answers are
cached, so a second call costs only scoring.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from sqlalchemy import select

from travelbot.stats import wilson_interval
from travelbot.data.raft import ANSWER
from travelbot.evaluation.results import run_results
from travelbot.evaluation.run import EvalConfig, evaluate
from travelbot.schema import eval_answers, eval_run_answers
from travelbot.store import get_store

VARIANTS = "smollm2-135m,smollm2-qlora,smollm2-raft,smollm2-dpo,smollm2-rlhf"
SHOWN = {"semantic_golden": "minilm", "bertscore_f1": "bertscore_f1", "rougeL": "rougeL", "bleu": "bleu"}


def share(hits: int, n: int) -> dict[str, float | int | None]:
    lower, upper = wilson_interval(hits, n) if n else (None, None)
    return {"value": round(hits / n, 4) if n else None, "lower": lower and round(lower, 4),
            "upper": upper and round(upper, 4), "n": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=VARIANTS)
    parser.add_argument("--split", default="test", choices=["dev", "test", "all"])
    parser.add_argument("--run", type=int, default=None, help="Summarise this earlier run instead of evaluating.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="A generation setting for every variant (temperature, repetition_penalty, ...).")
    args = parser.parse_args()
    settings = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    run_id = args.run
    if run_id is None:
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        run_id = evaluate(EvalConfig(variants, split=args.split, settings=settings)).id
    results = run_results(run_id)
    with get_store().transaction() as conn:
        rows = conn.execute(select(eval_answers.c.variant, eval_answers.c.method, eval_answers.c.raw_answer,
                                   eval_answers.c.finish_reason, eval_answers.c.completion_tokens)
                            .join(eval_run_answers, eval_run_answers.c.answer_id == eval_answers.c.id)
                            .where(eval_run_answers.c.run_id == run_id, eval_answers.c.error.is_(None))).all()
    by_variant: dict[str, list] = defaultdict(list)
    for row in rows:
        by_variant[row.variant].append(row)
    table = {}
    for variant in results.variants():
        answers = by_variant.get(variant, [])
        n = len(answers)
        retrieves = bool(answers) and answers[0].method in ("raft", "dpo", "rlhf")  # trained on RAFT's format
        entry = {
            "answers": n,
            "final_answer_marked": share(sum(ANSWER in a.raw_answer for a in answers), n) if retrieves else None,
            "ended_on_its_own": share(sum(a.finish_reason == "stop" for a in answers), n),
            "mean_tokens": round(sum(a.completion_tokens for a in answers) / n, 1) if n else None,
        }
        for m in results.metrics:
            if m.variant == variant and m.metric in SHOWN:
                entry[SHOWN[m.metric]] = {"mean": m.mean and round(m.mean, 4), "lower": m.lower and round(m.lower, 4),
                                          "upper": m.upper and round(m.upper, 4), "n": m.n}
        table[variant] = entry
    print(json.dumps({"run": run_id, "split": results.run.get("split"), "settings": results.run.get("settings"),
                      "variants": table}, indent=2))


if __name__ == "__main__":
    main()
