"""The Data tab: browse the corpus, golden set and datasets; try retrieval; add sources; build datasets."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import gradio as gr

from travelbot import jobs
from travelbot.data.build import BuildConfig, list_builds, submit_build
from travelbot.data.corpus import all_passages, load_corpus, retrieve
from travelbot.data.golden import load_golden
from travelbot.data.sources import add_source
from travelbot.errors import TravelbotError
from travelbot.format import build_summary
from travelbot.ui.admin import admin_only, admin_section
from travelbot.ui.common import error_note

DOC_COLUMNS = ["doc_id", "title", "kind", "region", "sections", "words", "as_of", "source"]
GOLDEN_COLUMNS = ["id", "split", "question_type", "question", "passage_ids"]


def corpus_table() -> tuple[list[list[Any]], str, list[str]]:
    documents, report = load_corpus()
    rows = [[d.summary()[c] for c in DOC_COLUMNS] for d in documents]
    regions = sorted({d.region for d in documents if d.region})
    note = (f"**{len(documents)} guides**, {len(all_passages(documents))} passages, regions: {', '.join(regions)}."
            + (f" Refused {report.refused}: " + "; ".join(report.problems[:5]) if report.refused else ""))
    return rows, note, [d.doc_id for d in documents]


def show_document(doc_id: str) -> str:
    documents, _ = load_corpus()
    doc = next((d for d in documents if d.doc_id == doc_id), None)
    if doc is None:
        return error_note(f"No guide with id {doc_id!r}.") if doc_id else ""
    parts = [f"### {doc.title}", f"*{doc.kind} · {doc.region} · as of {doc.as_of or '—'}*", doc.intro]
    for passage in doc.passages():
        parts.append(f"**{passage.section}** `{passage.passage_id}`\n\n{passage.text}")
    return "\n\n".join(p for p in parts if p)


def golden_table() -> tuple[list[list[Any]], str]:
    questions, report = load_golden()
    rows = [[q.id, q.split, q.question_type, q.question, ", ".join(q.passage_ids)] for q in questions]
    counts: dict[str, int] = {}
    for q in questions:
        counts[f"{q.split}/{q.question_type}"] = counts.get(f"{q.split}/{q.question_type}", 0) + 1
    note = f"**{len(questions)} golden questions** — " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    if report.refused:
        note += f". Refused {report.refused}: " + "; ".join(report.problems[:5])
    return rows, note


def try_retrieval(question: str, k: float) -> tuple[list[list[Any]], str]:
    try:
        hits = retrieve(question, int(k))
    except TravelbotError as exc:
        return [], error_note(str(exc))
    return [[round(h.score, 3), h.passage_id, h.title, h.section, h.text[:300]] for h in hits], ""


def builds() -> tuple[gr.Dropdown, str]:
    manifests = list_builds()
    choices = [m["build_id"] for m in manifests]
    return gr.Dropdown(choices=choices, value=choices[0] if choices else None), (
        "" if choices else "No datasets built yet: press **Build datasets**."
    )


def _shorten(value: Any, limit: int = 400) -> Any:
    """Long strings cut for display, so a sample row stays valid, readable JSON."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"… (+{len(value) - limit} characters)"
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    return value


def show_build(build_id: str | None) -> tuple[str, str]:
    manifest = next((m for m in list_builds() if m["build_id"] == build_id), None)
    if manifest is None:
        return "", ""
    lines = [f"### {build_id}", *(f"- {line}" for line in build_summary(manifest))]
    samples = []
    out = Path(manifest["out"])
    for name, splits in manifest["datasets"].items():
        path = out / splits["train"]["file"]
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                first = handle.readline()
            if first:
                row = json.dumps(_shorten(json.loads(first)), indent=1, ensure_ascii=False)
                samples.append(f"**{name}** — first training row:\n```json\n{row}\n```")
    return "\n".join(lines) + "\n\n" + "\n\n".join(samples), json.dumps(manifest, indent=2, ensure_ascii=False)


def start_build(source: str, generator: str, ungrounded_limit: float, seed: float) -> str:
    """Queue a dataset build as a job (a child process that outlives the page and the server)."""
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in (ungrounded_limit or 0, seed or 0)):
        return error_note("The seed and the number of ungrounded answers are whole numbers, 0 or more.")
    try:
        config = BuildConfig(source=(source or "").strip() or "bundled", generator=(generator or "").strip() or "template",
                             ungrounded_limit=int(ungrounded_limit or 0), seed=int(seed or 0))
        job = jobs.get_job(submit_build(config))
    except TravelbotError as exc:
        return error_note(str(exc))
    return f"Build job {job['id']} {job['status']}; its progress is below."


def build_status() -> str:
    """The newest dataset build job: its steps so far, then how it ended."""
    try:
        jobs.reconcile()
        found = jobs.list_jobs(1, kind="data")
    except TravelbotError as exc:
        return error_note(str(exc))
    if not found:
        return ""
    job = jobs.job_progress(found[0]["id"], tail=200)
    steps = "\n".join(f"- {line[2:]}" for line in job["output_tail"] if line.startswith("· "))
    if job["status"] == "queued":
        holder = jobs.waiting_for(job)
        end = (f"⏳ queued behind {jobs.KIND_LABELS[holder['kind']]} job {holder['id']} ({holder['name']})"
               if holder else "⏳ queued")
    elif job["status"] == "running":
        end = "⏳ running…"
    elif job["status"] == "succeeded":
        result = job.get("metrics") or {}
        end = f"✅ Built **{result.get('build_id')}** in {result.get('seconds')} s."
    elif job["status"] == "cancelled":
        end = "Cancelled."
    else:
        end = error_note(job.get("error") or "The build failed without saying why.")
    return f"**Build job {job['id']}** · {job['name']}\n\n{steps}\n\n{end}".strip()


def upload(files: list[str] | None) -> str:
    if not files:
        return error_note("Choose files or a folder to add first.")
    try:
        report = add_source([Path(f) for f in files])
    except TravelbotError as exc:
        return error_note(str(exc))
    finally:  # what was kept is now in the data home; the uploaded copies go
        for f in files:
            Path(f).unlink(missing_ok=True)
    text = f"Added {len(report['guides_added'])} guides and {report['reddit_records']} Reddit records."
    if report["refused"]:
        text += f" Refused {report['refused']}:\n" + "\n".join(f"- {p}" for p in report["problems"])
    return text


def build(app: gr.Blocks) -> gr.Timer:
    """Lay out the Data tab inside the current Blocks context; returns its dataset-build timer."""
    with gr.Tab("Corpus"):
        corpus_note = gr.Markdown()
        corpus = gr.Dataframe(headers=DOC_COLUMNS, interactive=False, wrap=True, max_height=360)
        doc_pick = gr.Dropdown(label="Open a guide", choices=[], allow_custom_value=True)
        doc_view = gr.Markdown()
    with gr.Tab("Retrieval"):
        with gr.Row():
            question = gr.Textbox(label="Question", placeholder="Is it safe to walk around Bangkok at night?", scale=4)
            k = gr.Slider(1, 10, value=5, step=1, label="k", scale=1)
        search = gr.Button("Retrieve", variant="primary")
        retrieval_note = gr.Markdown()
        hits = gr.Dataframe(headers=["score", "passage", "title", "section", "text"], interactive=False, wrap=True)
    with gr.Tab("Golden set"):
        golden_note = gr.Markdown()
        golden = gr.Dataframe(headers=GOLDEN_COLUMNS, interactive=False, wrap=True, max_height=420)
    with gr.Tab("Datasets"):
        with admin_section(app, "Building datasets"):
            with gr.Row():
                source = gr.Textbox(value="bundled", label="Source (bundled, reddit, or a folder path)")
                generator = gr.Textbox(value="template", label="Question generator (template or a variant)")
                ungrounded = gr.Number(value=64, label="Ungrounded answers for preference pairs", precision=0)
                seed = gr.Number(value=0, label="Seed", precision=0)
            start = gr.Button("Build datasets", variant="primary")
        build_note = gr.Markdown()
        build_pick = gr.Dropdown(label="Build", choices=[])
        build_view = gr.Markdown()
        with gr.Accordion("Manifest (JSON)", open=False):
            manifest_json = gr.Code(language="json")
        refresh_builds = gr.Button("↻ Refresh builds", size="sm")
    with gr.Tab("Add a source"):
        gr.Markdown("Upload guides (.md with front matter, .txt, .pdf, .html), a JSONL of documents "
                    "(`id`, `title`, `text`) or raw Reddit JSONL. Bad files and lines are listed; the rest is kept.")
        with admin_section(app, "Adding sources"):
            files = gr.File(file_count="multiple", label="Files")
            add = gr.Button("Add source", variant="primary")
        add_note = gr.Markdown()

    def refresh_corpus():
        rows, note, ids = corpus_table()
        return rows, note, gr.Dropdown(choices=ids)

    app.load(refresh_corpus, None, [corpus, corpus_note, doc_pick], api_visibility="private")
    app.load(golden_table, None, [golden, golden_note], api_visibility="private")
    app.load(builds, None, [build_pick, build_note], api_visibility="private")
    doc_pick.change(show_document, doc_pick, doc_view, api_visibility="private")
    search.click(try_retrieval, [question, k], [hits, retrieval_note], api_name="retrieve")
    question.submit(try_retrieval, [question, k], [hits, retrieval_note], api_visibility="private")
    build_pick.change(show_build, build_pick, [build_view, manifest_json], api_visibility="private")
    start.click(admin_only(start_build), [source, generator, ungrounded, seed], build_note, api_name="build_datasets")
    timer = gr.Timer(2.0, active=False)  # made active while the tab is open
    timer.tick(build_status, None, build_note, api_visibility="private")
    refresh_builds.click(builds, None, [build_pick, build_note], api_visibility="private")
    add.click(admin_only(upload), files, add_note, api_name="add_source").then(
        refresh_corpus, None, [corpus, corpus_note, doc_pick], api_visibility="private"
    )
    return timer
