"""JSONL reading: every bad line is reported with its number and reason; the rest loads."""

from __future__ import annotations

import json

import pytest

from travelbot.jsonl import check_readable, read_jsonl, write_jsonl
from travelbot.errors import TravelbotError


def test_bad_lines_are_reported_and_the_rest_loads(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"id": 1, "text": "ok"}\n'
        "{not json\n"
        "\n"
        '["a", "list"]\n'
        '{"id": 2, "text": true}\n'
        '{"id": 3, "text": "also ok"}\n',
        encoding="utf-8",
    )

    def validate(record):
        if not isinstance(record.get("text"), str):
            raise ValueError("field 'text' must be text")
        return record

    records, report = read_jsonl(path, validate=validate)
    assert [r["id"] for r in records] == [1, 3]
    assert report.loaded == 2 and report.refused == 3
    assert report.reasons == {"malformed JSON": 1, "not a JSON object": 1, "field 'text' must be text": 1}
    assert any(p.startswith("mixed.jsonl:2: malformed JSON") for p in report.problems)
    assert any(p.startswith("mixed.jsonl:5:") for p in report.problems)


def test_encodings_bom_and_latin1(tmp_path):
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps({"q": "caf\u00e9"}).encode() + b"\n")
    records, report = read_jsonl(bom)
    assert records == [{"q": "café"}] and not report.warnings
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"q": "café"}\n'.encode("latin-1"))
    records, report = read_jsonl(latin)
    assert records == [{"q": "café"}]
    assert "not UTF-8" in report.warnings[0]
    utf16 = tmp_path / "utf16.jsonl"
    utf16.write_bytes('{"q": "日本"}\n'.encode("utf-16"))
    assert read_jsonl(utf16)[0] == [{"q": "日本"}]


def test_missing_oversized_and_directory_inputs_are_one_sentence(tmp_path):
    with pytest.raises(TravelbotError, match="does not exist"):
        read_jsonl(tmp_path / "nope.jsonl")
    with pytest.raises(TravelbotError, match="not a file"):
        check_readable(tmp_path)
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(TravelbotError, match="the limit is"):
        check_readable(big, max_bytes=1024)


def test_write_is_atomic_and_round_trips(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "¿Dónde?"}]}, {"n": 2}]
    path = tmp_path / "sub" / "out.jsonl"
    assert write_jsonl(path, rows) == 2
    assert read_jsonl(path)[0] == rows
    assert not list(path.parent.glob("*.partial"))
