"""The bundled corpus and the loaders for guides, folders and uploads."""

from __future__ import annotations

import pytest

from travelbot.config import Settings
from travelbot.data.corpus import all_passages, load_corpus, load_folder, load_markdown_dir, parse_markdown

DESTINATION_SECTIONS = [
    "When to go", "Getting there and around", "Neighbourhoods", "Sights", "Food", "Budget", "Safety",
    "Etiquette", "Events and festivals", "Entry basics",
]


@pytest.fixture(scope="module")
def corpus():
    documents, report = load_corpus(Settings(home=__import__("pathlib").Path("/nonexistent-home")))
    return documents, report


def test_bundled_corpus_covers_five_continents_and_practical_topics(corpus):
    documents, report = corpus
    assert report.refused == 0, report.problems
    destinations = [d for d in documents if d.kind == "destination"]
    practical = [d for d in documents if d.kind == "practical"]
    assert len(destinations) >= 40 and len(practical) >= 10
    continents = {d.region for d in destinations} & {"Europe", "Asia", "Africa", "North America", "South America", "Oceania"}
    assert len(continents) >= 5
    for doc in destinations:
        assert [h for h, _ in doc.sections] == DESTINATION_SECTIONS, doc.doc_id
        assert doc.as_of and doc.country and doc.tags, doc.doc_id
        entry = dict(doc.sections)["Entry basics"]
        assert entry.startswith("As of"), doc.doc_id


def test_passages_are_sections_with_stable_ids(corpus):
    documents, _ = corpus
    passages = all_passages(documents)
    ids = [p.passage_id for p in passages]
    assert len(ids) == len(set(ids))
    lisbon = {p.passage_id: p for p in passages if p.doc_id == "lisbon"}
    assert "lisbon#getting-there-and-around" in lisbon
    assert lisbon["lisbon#food"].section == "Food" and lisbon["lisbon#food"].title.startswith("Lisbon")


def test_parse_markdown_turns_non_text_front_matter_into_text():
    doc = parse_markdown("---\nid: 42\ntitle: true\nas_of: 2025-06-01\ntags: a, b\n---\n## Food\n\nEat.\n", "fallback")
    assert (doc.doc_id, doc.title, doc.as_of, doc.tags) == ("42", "True", "2025-06-01", ["a", "b"])


@pytest.mark.parametrize(
    "text, reason",
    [
        ("---\ntitle: [unclosed\n---\n## A\n\nb\n", "front matter is not valid YAML"),
        ("---\n- a list\n---\n## A\n\nb\n", "front matter must be a mapping"),
        ("---\ntitle: Empty\n---\n\n", "is empty"),
        ("---\ntitle: x\ntags: {a: 1}\n---\n## A\n\nb", None),
    ],
)
def test_parse_markdown_refuses_unusable_guides(text, reason):
    if reason is None:
        assert parse_markdown(text, "x").tags == []
        return
    with pytest.raises(ValueError, match=reason):
        parse_markdown(text, "x")


def test_markdown_folder_reports_each_bad_file_and_keeps_the_rest(tmp_path):
    (tmp_path / "good.md").write_text("---\nid: good\ntitle: Good\n---\n## Food\n\nTapas.\n", encoding="utf-8")
    (tmp_path / "dupe.md").write_text("---\nid: good\ntitle: Again\n---\n## Food\n\nMore.\n", encoding="utf-8")
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    (tmp_path / "latin.md").write_bytes("---\nid: cafe\ntitle: Café\n---\n## Food\n\nCafé au lait.\n".encode("latin-1"))
    (tmp_path / "broken.md").write_text("---\ntitle: [x\n---\n## A\n\nb\n", encoding="utf-8")
    documents, report = load_markdown_dir(tmp_path)
    assert sorted(d.doc_id for d in documents) == ["cafe", "good"]
    assert report.reasons["duplicate id"] == 1 and report.reasons["is empty"] == 1
    assert any("not valid YAML" in p for p in report.problems)
    assert any("latin-1" in w for w in report.warnings)
    assert next(d for d in documents if d.doc_id == "cafe").title == "Café"


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with one line of text, written by hand (no PDF library needed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_any_folder_of_md_txt_pdf_html_loads_through_llama_index(tmp_path):
    (tmp_path / "notes.txt").write_text("Ferries to the islands leave from Piraeus every morning.", encoding="utf-8")
    (tmp_path / "page.html").write_text(
        "<html><body><h1>Hanoi</h1><p>Try bun cha near the Old Quarter.</p></body></html>", encoding="utf-8"
    )
    (tmp_path / "brochure.pdf").write_bytes(minimal_pdf("Night trains run from Vienna to Venice."))
    (tmp_path / "guide.md").write_text("# Porto\n\n## Food\n\nFrancesinha is a sandwich.\n", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "blank.txt").write_text("", encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    documents, report = load_folder(tmp_path)
    texts = {d.doc_id: (d.intro + " ".join(t for _, t in d.sections)) for d in documents}
    assert "Piraeus" in texts["notes"]
    assert "bun cha" in texts["page"]
    assert "Vienna to Venice" in texts["brochure"]
    assert "Francesinha" in texts["guide"]
    assert report.reasons["unsupported file type"] == 1
    assert report.reasons["is empty"] >= 1
    assert any(p.startswith("broken.pdf") for p in report.problems)
