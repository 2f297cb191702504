"""Where the PandaLM human-annotated test set is: the shared benchmarks folder beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest


def find_pandalm() -> Path | None:
    here = Path(__file__).resolve()
    for root in (*here.parents[2:4], Path("/work")):
        folder = root / "shared" / "benchmarks" / "pandalm"
        if (folder / "testset-v1.json").is_file():
            return folder
    return None


@pytest.fixture(scope="session")
def pandalm_dir() -> Path:
    folder = find_pandalm()
    if folder is None:
        pytest.skip("the PandaLM test set (shared/benchmarks/pandalm) is not on this machine")
    return folder
