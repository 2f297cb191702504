"""``travelbot report --out DIR``: the study's results section for your data — a self-contained HTML
page (charts embedded) and a Markdown summary: variants, automatic metrics, human results, agreement."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from travelbot.format import estimate
from travelbot.format import figure as with_n
from travelbot.store import Store, get_store


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return "_none yet_\n"
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return "<p><em>none yet</em></p>"
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def build_report(store: Store | None = None, *, rounds: int = 1000, seed: int = 0,
                 metrics: Sequence[str] = ("bleu", "rougeL", "bertscore_f1")) -> dict[str, Any]:
    """Every section's tables (header, rows) and figures, from the store."""
    from travelbot.analysis import plots
    from travelbot.analysis.judge_agreement import set_agreement
    from travelbot.analysis.judgments import judgment_sets
    from travelbot.analysis.store_agreement import metric_correlations, store_agreement
    from travelbot.analysis.verdict import verdict
    from travelbot.evaluation.results import latest_run_id, run_results
    from travelbot.feedback.standings import standings
    from travelbot.models import get_registry

    store = store or get_store()
    sections: list[dict[str, Any]] = []
    variants = [[v.name, v.method, v.base.name, v.adapter.name if v.adapter else "—"]
                for v in get_registry().variants().values()]
    sections.append({"title": "Variants", "tables": [(["variant", "method", "base", "adapter"], variants)],
                     "figures": [], "text": ""})

    found = verdict(store, rounds=rounds, seed=seed)
    findings = [[f.claim, f.status, f.evidence] for f in found.findings]
    per_variant = [[row.variant, row.method, with_n(row.people_rating, 0), with_n(row.people_overall, 2),
                    with_n(row.judge.get("judge_overall"), 2), with_n(row.metrics.get("semantic_golden")),
                    (row.training or {}).get("seconds") or "—",
                    estimate((row.serving or {}).get("first_token_s"), digits=2)] for row in found.rows]
    sections.append({
        "title": "Verdict", "text": f"{found.preference} Recommended: {found.recommendation}"
                                    + (" Missing: " + " ".join(found.missing) if found.missing else ""),
        "tables": [(["the study found", "on this data", "evidence"], findings),
                   (["variant", "method", "people (Bradley–Terry)", "mean rating", "judge overall", "MiniLM",
                     "training s", "first token s"], per_variant)],
        "figures": [plots.cost_quality(found)]})

    run_id = latest_run_id(store)
    if run_id is not None:
        results = run_results(run_id, store)
        rows = [[m.variant, m.metric, estimate(m.mean, m.lower, m.upper), m.n, m.missing] for m in results.metrics]
        sections.append({"title": f"Automatic metrics (evaluation run {run_id}, split {results.run['split']})",
                         "tables": [(["variant", "metric", "mean [95% CI]", "n", "missing"], rows)],
                         "figures": [], "text": "Means over golden questions with 95% bootstrap intervals."})
    else:
        sections.append({"title": "Automatic metrics", "tables": [], "figures": [],
                         "text": "No evaluation run yet (`travelbot eval`)."})

    result = standings(store, rounds=rounds, seed=seed)
    board = [[r.rank, r.variant, r.label(), r.battles] for r in result.board.ratings]
    criteria = [[s.variant, s.criterion, estimate(s.mean, s.lower, s.upper, 2), s.n] for s in result.ratings.scores]
    sections.append({
        "title": "Human results", "text": f"{result.board.n_battles} blind votes (Bradley–Terry, {rounds} bootstrap "
                                          f"rounds); {result.ratings.n_ratings} ratings by {result.ratings.n_raters} raters.",
        "tables": [(["rank", "variant", "rating [95% CI]", "battles"], board),
                   (["variant", "criterion", "mean [95% CI]", "answers"], criteria)],
        "figures": [plots.rating_chart(result.board), plots.criteria_chart(result.ratings)]})

    found = store_agreement(list(metrics), store, rounds=rounds, seed=seed)
    vote_rows = [[m, a.n, estimate(a.accuracy.value, a.accuracy.lower, a.accuracy.upper),
                  estimate(a.kappa.value, a.kappa.lower, a.kappa.upper)] for m, a in found.votes.items()]
    rating_rows = [[m, c["spearman"].n, estimate(c["spearman"].value, c["spearman"].lower, c["spearman"].upper)]
                   for m, c in found.ratings.items()]
    criterion_rows = [[c, f["judge_metric"], f["correlations"]["spearman"].n,
                       estimate(f["correlations"]["spearman"].value, f["correlations"]["spearman"].lower,
                            f["correlations"]["spearman"].upper)] for c, f in found.criteria.items()]
    names, matrix, answers = metric_correlations(store)
    sections.append({
        "title": "Agreement with people (this store)",
        "text": f"Metrics judging {found.votes_considered} arena votes on golden questions; "
                f"{found.rated_answers} rated evaluation answers.",
        "tables": [(["metric", "n", "accuracy [95% CI]", "Cohen's kappa [95% CI]"], vote_rows),
                   (["metric", "n", "Spearman with mean rating [95% CI]"], rating_rows),
                   (["rating criterion", "judge's verdict", "n", "Spearman [95% CI]"], criterion_rows)],
        "figures": [plots.metric_correlation_heatmap(names, matrix, answers)]})

    for name in sorted(judgment_sets(store)):
        agreement = set_agreement(name, rounds=rounds, seed=seed, store=store)
        rows = [[row.name, row.kind, row.agreement.n,
                 estimate(row.agreement.accuracy.value, row.agreement.accuracy.lower, row.agreement.accuracy.upper),
                 estimate(row.agreement.f1.value, row.agreement.f1.lower, row.agreement.f1.upper)]
                for row in agreement.rows]
        ceiling = agreement.humans["ceiling"]
        figure = go.Figure(go.Bar(x=[r[0] for r in rows], y=[row.agreement.accuracy.value for row in agreement.rows]))
        if ceiling["leave_one_out"]["value"] is not None:
            figure.add_hline(y=ceiling["leave_one_out"]["value"], line_dash="dash", annotation_text="human ceiling")
        figure.update_layout(title=f"Judges vs the human majority — {name}", yaxis_range=[0, 1])
        sections.append({
            "title": f"Agreement with people (imported set {name})",
            "text": f"{agreement.items} items; Fleiss' kappa {estimate(ceiling['fleiss_kappa']['value'])}.",
            "tables": [(["judge", "kind", "n", "accuracy [95% CI]", "macro F1 [95% CI]"], rows)],
            "figures": [figure]})
    return {"generated": datetime.now(UTC).isoformat(timespec="seconds"), "sections": sections}


def write_report(out: Path, store: Store | None = None, **options: Any) -> dict[str, Path]:
    """Write ``report.html`` (self-contained, charts embedded) and ``report.md`` into ``out``."""
    report = build_report(store, **options)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    markdown = [f"# travelbot report\n\nGenerated {report['generated']}.\n"]
    body = [f"<h1>travelbot report</h1><p>Generated {report['generated']}.</p>"]
    first_chart = True
    for section in report["sections"]:
        markdown.append(f"\n## {section['title']}\n\n{section['text']}\n")
        body.append(f"<h2>{html.escape(section['title'])}</h2><p>{html.escape(section['text'])}</p>")
        for headers, rows in section["tables"]:
            markdown.append("\n" + _table(headers, rows))
            body.append(_html_table(headers, rows))
        for chart in section["figures"]:
            body.append(chart.to_html(full_html=False, include_plotlyjs="inline" if first_chart else False))
            first_chart = False
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}")
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>travelbot report</title>"
                         f"<style>{style}</style></head><body>{''.join(body)}</body></html>", encoding="utf-8")
    md_path.write_text("".join(markdown), encoding="utf-8")
    return {"html": html_path, "markdown": md_path}
