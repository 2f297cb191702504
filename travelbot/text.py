"""Text typed by people, made safe to store and show to others."""

from __future__ import annotations

import unicodedata

# Bidirectional embeddings, overrides and isolates: they can reorder or hide what another reader sees.
_BIDI = dict.fromkeys(map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def clean_text(text: str) -> str:
    """``text`` without control characters (newlines and tabs kept) and without bidirectional controls."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_BIDI)
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
