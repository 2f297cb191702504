"""The Agreement tab: how well each judge and metric agrees with people, with intervals and the human
ceiling — on the store's votes and ratings, or on an imported judgment set such as PandaLM's."""

from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go

from travelbot.errors import TravelbotError
from travelbot.analysis.judge_agreement import LENGTH_BASELINE
from travelbot.evaluation.scorers import METRIC_SCORERS
from travelbot.format import estimate_of
from travelbot.ui.common import error_note

COLUMNS = ["judge or metric", "kind", "n", "accuracy", "acc. without ties", "macro F1", "Cohen's kappa",
           "chose the longer answer"]
CRITERIA_COLUMNS = ["criterion", "judge's verdict", "rated answers", "Spearman", "Kendall tau", "Pearson"]
RANKING_COLUMNS = ["automatic ranking", "kind", "variants", "separability", "people's separability",
                   "agreement with confidence"]
DEFAULT_METRICS = ["bleu", "rougeL"]  # seconds on PandaLM's 999 pairs; BERTScore takes about a minute more
ALL_SPLITS = "all"


def _scope(split: str | None, variants: list[str] | None, criterion: str | None):
    from travelbot.analysis.store_agreement import Scope

    return Scope(split=None if split in (None, "", ALL_SPLITS) else split, variants=tuple(variants or ()),
                 criterion=criterion or "overall")


def _store_variants() -> list[str]:
    """Variants people or metrics judged: every registered one and every one with evaluation answers."""
    from travelbot.models import get_registry
    from travelbot.store import get_store

    return sorted({*get_registry().variants(), *get_store().evaluated_variants()})


def opening_view() -> list:
    """[source, reference judge] the tab opens on: the store once people voted or rated here, else a bundled
    set of real human judgments (so the tab never opens empty)."""
    from travelbot.analysis.judgments import BUNDLED_SETS, judgment_sets
    from travelbot.store import get_store

    store, sets = get_store(), judgment_sets()
    bundled = next((name for name in BUNDLED_SETS if name in sets), None)
    if bundled is None or store.count("votes") or store.count("ratings"):
        return [gr.Dropdown(choices=_sources(), value="store"), gr.skip()]
    return [gr.Dropdown(choices=_sources(), value=bundled), "gpt-3.5-turbo"]


FEW = 30  # below this many, an agreement figure's interval is too wide to act on


def store_counts_warning(votes: int, rated: int) -> str:
    """What counts on the store's side and how to get more of it, when there is too little to act on."""
    parts = []
    if votes < FEW:
        parts.append(f"Only {votes} votes count here: a vote counts when its battle asked a golden question "
                     "(Arena → *Suggest a golden question*).")
    if rated < FEW:
        parts.append(f"Only {rated} rated answers count: a rating counts when it scores an evaluation run's answer "
                     "(Rate → tick *Only answers to golden questions from evaluation runs*).")
    if parts:
        parts.append(f"With fewer than {FEW}, the intervals are too wide to act on.")
    return "⚠️ " + " ".join(parts) + " " if parts else ""


def compute_imported(source: str, *args) -> list:
    """:func:`compute` for an imported set chosen when the tab opened; nothing to do for the store."""
    return [gr.skip()] * 4 if source == "store" else compute(source, *args)


def _sources() -> list[str]:
    from travelbot.analysis.judgments import judgment_sets

    return ["store", *sorted(judgment_sets())]


def headline_chart(names: list[str], estimates: list[dict], ceiling: dict | None, title: str) -> go.Figure:
    """Each judge's / metric's agreement as bars with interval whiskers, and the human ceiling as a line."""
    figure = go.Figure()
    if not any(e and e.get("n") for e in estimates):
        figure.add_annotation(text="No human judgments to compare with yet", showarrow=False, x=0.5, y=0.5,
                              xref="paper", yref="paper", font={"size": 16})
        figure.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False})
        return figure
    values = [e["value"] if e and e["value"] is not None else None for e in estimates]
    upper = [(e["upper"] - e["value"]) if e and e.get("upper") is not None and e["value"] is not None else 0
             for e in estimates]
    lower = [(e["value"] - e["lower"]) if e and e.get("lower") is not None and e["value"] is not None else 0
             for e in estimates]
    figure.add_trace(go.Bar(x=names, y=values, error_y={"type": "data", "array": upper, "arrayminus": lower},
                            text=[f"n={e['n']}" if e else "" for e in estimates], name="agreement"))
    if ceiling and ceiling.get("value") is not None:
        figure.add_hline(y=ceiling["value"], line_dash="dash",
                         annotation_text=f"human ceiling (leave-one-out) {ceiling['value']:.3f}")
    figure.update_layout(title=title, yaxis_title="accuracy (3-class, ties counted)", yaxis_range=[0, 1],
                         showlegend=False)
    return figure


def compute(source: str, metrics: list[str], reference_from: str, margin: float, split: str = ALL_SPLITS,
            variants: list[str] | None = None, criterion: str = "overall") -> list:
    """[note, table, chart, rankings] for the chosen source; the store's figures within the chosen split,
    variants and rating criterion. The rankings: each judge's (and metric's) ranking of the variants (or of an
    imported set's models) against people's, by separability and agreement with confidence."""
    metrics = list(metrics or [])
    try:
        if source == "store":
            from travelbot.analysis.store_agreement import store_agreement

            scope = _scope(split, variants, criterion)
            found = store_agreement(metrics, scope=scope, margin=float(margin), rounds=1000)
            rows, names, estimates = [], [], []
            for metric, a in found.votes.items():
                d = a.to_dict()
                kind = "baseline" if metric == LENGTH_BASELINE else "metric"
                rows.append([metric, kind, d["n"], estimate_of(d["accuracy"]), estimate_of(d["accuracy_without_ties"]),
                             estimate_of(d["f1"]), estimate_of(d["kappa"]), "—"])
                names.append(metric)
                estimates.append(d["accuracy"])
            for model, a in found.judges.items():
                d = a.to_dict()
                rows.insert(0, [model, "LLM judge (arena votes, both orders)", d["n"], estimate_of(d["accuracy"]),
                                estimate_of(d["accuracy_without_ties"]), estimate_of(d["f1"]), estimate_of(d["kappa"]), "—"])
                names.insert(0, model)
                estimates.insert(0, d["accuracy"])
            from travelbot.feedback.battle_judge import judge_configured

            judged = ("The LLM judge's rows count every voted battle it judged, on any question. "
                      if found.judges else
                      "No LLM judge verdicts on the votes yet: " + (
                          "run `travelbot votes judge` for the votes cast before the judge was set. "
                          if judge_configured() else
                          "set TRAVELBOT_JUDGE_MODEL (docs/evaluation.md) and each new vote is judged too. "))
            note = judged + (f"{found.votes_considered} arena votes on golden questions (each metric scores both answers "
                    f"against the golden answer); {found.rated_answers} evaluation answers rated on "
                    f"*{scope.criterion}*. {store_counts_warning(found.votes_considered, found.rated_answers)}")
            if found.ratings:
                note += f"Ratings ({scope.criterion}) vs scores (Spearman): " + "; ".join(
                    f"{m} {estimate_of(c['spearman'].to_dict())} (n={c['spearman'].n})" for m, c in found.ratings.items())
            from travelbot.analysis.store_agreement import judge_biases

            for judge, biases in judge_biases(scope=scope).items():
                consistency, longer = biases["position_consistency"], biases["longer_preferred"]
                note += (f" Judge {judge}: same verdict in both orders {estimate_of(consistency.to_dict())} "
                         f"(n={consistency.n}); chose the longer answer {estimate_of(longer.to_dict())} (n={longer.n}).")
            return [note, rows, headline_chart(names, estimates, None, "Judges and metrics against the arena votes"),
                    ranking_rows(found.rankings)]
        from travelbot.analysis.judge_agreement import set_agreement

        result = set_agreement(source, metrics=metrics, reference_from=reference_from or None,
                               margin=float(margin), rounds=1000)
    except TravelbotError as exc:
        return [error_note(str(exc)), [], headline_chart([], [], None, ""), []]
    from travelbot.analysis.judgments import BUNDLED_SETS

    rows, names, estimates = [], [], []
    for row in result.rows:
        d = row.agreement.to_dict()
        longer = row.longer_preferred.to_dict() if row.longer_preferred else None
        rows.append([row.name, row.kind, d["n"], estimate_of(d["accuracy"]), estimate_of(d["accuracy_without_ties"]), estimate_of(d["f1"]),
                     estimate_of(d["kappa"]), estimate_of(longer)])
        names.append(row.name)
        estimates.append(d["accuracy"])
    ceiling = result.humans["ceiling"]
    about = f"{BUNDLED_SETS[source][1]}. " if source in BUNDLED_SETS else ""
    note = (f"{about}Set **{result.set_name}**: {result.items} items; human majority {result.humans['labels']}. "
            f"Human ceiling: leave-one-out {estimate_of(ceiling['leave_one_out'])}, Fleiss' kappa "
            f"{estimate_of(ceiling['fleiss_kappa'])}, Krippendorff's alpha {estimate_of(ceiling['krippendorff_alpha'])}. "
            "95% intervals: Wilson for accuracies, BCa bootstrap over items for F1 and kappa.")
    if caveat := result.metric_caveat():
        note += f" {caveat}"
    if not result.rankings:
        from travelbot.analysis.judge_agreement import NO_RANKINGS

        note += f" {NO_RANKINGS}"
    return [note, rows, headline_chart(names, estimates, ceiling["leave_one_out"],
                                       "Agreement with the human majority"), ranking_rows(result.rankings)]


def ranking_rows(rankings: dict) -> list[list]:
    """One row per automatic ranking: its separability and agreement with confidence against people's board."""
    from travelbot.format import agreement_with_confidence, separability

    rows = []
    for name, ranking in rankings.items():
        d = ranking.to_dict()
        rows.append([name, ranking.kind, len(ranking.variants), separability(d["separability"]),
                     separability(d["people_separability"]), agreement_with_confidence(d["agreement_with_confidence"])])
    return rows


def people_views(metrics: list[str], scatter_metric: str | None, split: str = ALL_SPLITS,
                 variants: list[str] | None = None, criterion: str = "overall", store=None) -> list:
    """[scatter of a metric vs mean rating with a fit, variants ranked by people beside each metric,
    people's rating on each criterion vs the judge's verdict on it, metric–metric heatmap] within the scope."""
    from travelbot.analysis.plots import metric_correlation_heatmap, metric_rating_scatter
    from travelbot.analysis.store_agreement import (
        criterion_agreement,
        metric_correlations,
        rated_scores,
        variant_rankings,
    )
    from travelbot.store import get_store

    metrics = list(metrics or DEFAULT_METRICS)
    metric = scatter_metric or metrics[0]
    scope = _scope(split, variants, criterion)
    store = store or get_store()
    headers, rows = variant_rankings(metrics, store, scope=scope)
    criteria = [[c, f["judge_metric"], f["rated_answers"],
                 *(estimate_of(f["correlations"][k].to_dict()) for k in ("spearman", "kendall", "pearson"))]
                for c, f in criterion_agreement(store, scope).items()]
    scatter = metric_rating_scatter(rated_scores(metric, store, scope), metric, scope.criterion)
    return [scatter, gr.Dataframe(value=rows, headers=headers), criteria,
            metric_correlation_heatmap(*metric_correlations(store, scope))]


def build(app: gr.Blocks, tab: gr.Tab | None = None) -> None:
    """Lay out the Agreement tab inside the current Blocks context; its store views are computed when
    ``tab`` is opened (or with the page, when built without a tab)."""
    gr.Markdown("Which automatic judges and metrics agree with people? Pick the store's own votes and ratings, "
                "or an imported set of human judgments (`travelbot judgments import`).")
    with gr.Row():
        source = gr.Dropdown(["store"], value="store", allow_custom_value=True, label="Human data", scale=2)
        reference_from = gr.Textbox(label="Reference answers from judge (imported sets)", scale=2,
                                    placeholder="e.g. gpt-3.5-turbo; blank = the items' own")
        margin = gr.Number(value=0.0, minimum=0.0, label="Tie margin for metrics", scale=1)
    metrics = gr.CheckboxGroup(list(METRIC_SCORERS), value=DEFAULT_METRICS, label="Metrics used as judges")
    from travelbot.data.golden import SPLITS
    from travelbot.feedback.ratings import RATED
    from travelbot.models import get_registry

    with gr.Row():
        split = gr.Dropdown([ALL_SPLITS, *SPLITS], value=ALL_SPLITS, label="Golden split (store)", scale=1)
        criterion = gr.Dropdown(list(RATED), value="overall", label="Human rating criterion (store)", scale=1)
        variants = gr.Dropdown(sorted(get_registry().variants()), value=[], multiselect=True, scale=3,
                               allow_custom_value=True, label="Variants (store; none chosen = all)")
    run = gr.Button("Compute", variant="primary")
    note = gr.Markdown(elem_id="agreement-note")
    chart = gr.Plot(label="Agreement with humans")
    table = gr.Dataframe(headers=COLUMNS, interactive=False, label="Agreement with the human majority")
    from travelbot.analysis.separability import AGREEMENT_MEANS, SEPARABILITY_MEANS

    gr.Markdown(f"{SEPARABILITY_MEANS}\n\n{AGREEMENT_MEANS}\n\nOn the store, a judge's ranking is the "
                "Bradley–Terry board fitted on its verdicts of the voted battles and a metric's is each variant's "
                "mean over its evaluation answers; on an imported set that names its models, each is the board "
                "fitted on its verdicts of the items.")
    separation = gr.Dataframe(headers=RANKING_COLUMNS, interactive=False,
                              label="Each judge's and metric's ranking against people's (Arena-Hard), 95% intervals")
    heatmap = gr.Plot(label="Metric–metric correlation")
    gr.Markdown("#### This store: each metric against people's ratings, and the variants' order")
    scatter_metric = gr.Dropdown(list(METRIC_SCORERS) + ["judge_overall", "faithfulness", "answer_correctness"],
                                 value="bertscore_f1", allow_custom_value=True, label="Metric for the scatter")
    scatter = gr.Plot(label="Metric vs mean rating")
    rankings = gr.Dataframe(interactive=False, label="Variants ranked by people, beside each metric's mean")
    criteria = gr.Dataframe(headers=CRITERIA_COLUMNS, interactive=False,
                            label="People's rating on each criterion vs the LLM judge's verdict on it (same answers)")
    opened = tab.select if tab is not None else app.load
    for event in (run.click, scatter_metric.change, opened):
        event(people_views, [metrics, scatter_metric, split, variants, criterion],
              [scatter, rankings, criteria, heatmap], api_visibility="private")
    opened(lambda: gr.Dropdown(choices=_store_variants()), None, variants, api_visibility="private")
    figures = [note, table, chart, separation]
    opening = opened(opening_view, None, [source, reference_from], api_visibility="private").then(
        compute_imported, [source, metrics, reference_from, margin, split, variants, criterion], figures,
        api_visibility="private")
    # A person's own Compute replaces the figures the tab opened on (which must not land after it).
    run.click(compute, [source, metrics, reference_from, margin, split, variants, criterion], figures,
              api_name="agreement", cancels=[opening])
