"""The Verdict tab: which variant to ship, from this store's votes, ratings, scores and costs (analysis.verdict)."""

from __future__ import annotations

import html

import gradio as gr
import plotly.graph_objects as go

from travelbot.analysis.plots import cost_quality
from travelbot.analysis.verdict import Verdict, verdict
from travelbot.errors import TravelbotError
from travelbot.format import estimate, figure
from travelbot.ui.common import error_note

COLUMNS = ["variant", "method", "BT rating", "win rate", "win rate + judge", "rating 1-5", "rating + judge",
           "judge 1-10", "judge win rate", "MiniLM", "BERTScore F1", "training", "1st token s", "memory MB"]
LEGEND = ("**BT rating**: people's Bradley–Terry rating (n battles) · **win rate**: share of its battles people gave "
          "it, ties half · **rating 1-5**: people's mean overall rating of its evaluation answers (n answers) · "
          "**+ judge**: the same, prediction-powered by the LLM judge's verdicts (n labelled + judge-only; what it is "
          "worth in labels) · **judge 1-10**, **judge win rate**: the LLM judge on golden answers · **MiniLM**, "
          "**BERTScore F1**: similarity to the golden answers · **training**: the adapter's run · **1st token s**: "
          "median over chat turns · **memory MB**: the serving process with every variant of its base loaded, from "
          "the newest `travelbot bench chat`. Every interval is 95%.")
STATUS = {"supported": "**supported**", "contradicted": "**contradicted**", "undetermined": "undetermined"}


def _training(row) -> str:
    t = row.training
    if not t:
        return "—"
    text = f"{t['seconds']:.0f} s on {t['device']}" if t.get("seconds") is not None else t.get("device", "—")
    if t.get("tokens"):
        text += f", {t['tokens']:,} tokens"
    if t.get("gpu_hours") is not None:
        text += f" ({t['gpu_hours']} GPU-h)"
    return text + (f", from {t['start']}" if t.get("start") else "")


def _powered(value: dict | None, labels: str) -> str:
    """A prediction-powered estimate, with its labelled n, the judge-only N and what it is worth in labels."""
    if not value:
        return "—"
    return (f"{estimate(value['value'], value['lower'], value['upper'], 2)} (n={value['n']} + {value['judge_only']}; "
            f"worth {value['worth']:.0f} {labels})")


def table(found: Verdict) -> list[list[str]]:
    rows = []
    for r in found.rows:
        rows.append([r.variant, r.method,
                     figure(r.people_rating, 0) + (" · provisional" if (r.people_rating or {}).get("provisional") else ""),
                     figure(r.people_win_rate, 2), _powered(r.people_win_rate_ppi, "votes"),
                     figure(r.people_overall, 2), _powered(r.people_overall_ppi, "ratings"),
                     figure(r.judge.get("judge_overall"), 2), figure(r.judge_win_rate, 2),
                     figure(r.metrics.get("semantic_golden")), figure(r.metrics.get("bertscore_f1")),
                     _training(r), estimate((r.serving or {}).get("first_token_s"), digits=2),
                     estimate((r.serving or {}).get("memory_mb"), digits=0)])
    return rows


def summary(found: Verdict) -> str:
    lines = [f"### {html.escape(found.preference)}", "", f"**Recommended:** {html.escape(found.recommendation)}", "",
             "| the study found | on this data | evidence |", "|---|---|---|"]
    lines += [f"| {f.claim} | {STATUS[f.status]} | {html.escape(f.evidence)} <br><sub>{html.escape(f.rule)}</sub> |"
              for f in found.findings]
    lines.append(f"\n<sub>{found.votes} votes, {found.ratings} ratings. Intervals are 95%; n is what each figure "
                 "rests on.</sub>")
    for judge in found.judges:
        lines.append(f"\n**The judge {html.escape(judge.judge)} on these votes.** {html.escape(judge.sentence)} "
                     f"Its two presentation orders agree {figure(judge.position_consistency)}; it prefers the longer "
                     f"answer {figure(judge.judge_prefers_longer)}, people {figure(judge.people_prefer_longer)}."
                     + _reference(judge.reference))
    if found.missing:
        lines.append("\n**What is missing:**\n" + "\n".join(f"- {html.escape(m)}" for m in found.missing))
    return "\n".join(lines)


def _reference(reference: dict) -> str:
    if not reference:
        return ""
    judges = "; ".join(f"{name} {figure(r['accuracy'])}, prefers the longer {figure(r['prefers_longer'])}"
                       for name, r in reference["judges"].items())
    return (f" On PandaLM ({reference['items']} pairs), annotators agree with each other "
            f"{figure(reference['people_agree'])}; published judges: {html.escape(judges)}.")


def show() -> list:
    try:
        found = verdict()
    except TravelbotError as exc:
        return [error_note(str(exc)), [], go.Figure()]
    return [summary(found), table(found), cost_quality(found)]


def build(app: gr.Blocks, tab: gr.Tab | None = None) -> None:
    """Lay out the Verdict tab; computed when ``tab`` is opened (or with the page, when built without a tab)."""
    gr.Markdown("Which fine-tuning method to ship, with what confidence and at what cost — from this store's "
                "votes (Arena), ratings (Rate), evaluation scores (Evaluate) and training runs. "
                "`travelbot verdict` prints the same.")
    note = gr.Markdown(elem_id="verdict")
    rows = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=False, label="Per variant")
    gr.Markdown(LEGEND)
    chart = gr.Plot(label="Quality against cost")
    refresh = gr.Button("↻ Recompute", size="sm")
    (tab.select if tab is not None else app.load)(show, None, [note, rows, chart], api_name="verdict")
    refresh.click(show, None, [note, rows, chart], api_visibility="private")
