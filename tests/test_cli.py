"""The travelbot command, run as a real subprocess on the embedded model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "travelbot", *args], capture_output=True, text=True, timeout=timeout
    )


def test_variants_json_lists_the_embedded_base(home):
    result = run("variants", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    names = {v["name"]: v for v in data["variants"]}
    assert names["smollm2-135m"]["method"] == "base"
    assert names["smollm2-135m"]["weights"] == "local"
    assert names["smollm2-135m"]["backend"] in ("llamacpp", "transformers")  # what serves its chat here


def test_chat_json_answers_and_logs_the_turn(home, backend):
    result = run("chat", "smollm2-135m", "Is Lisbon walkable?", "--max-new-tokens", "16", "--temperature", "0", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"].strip() and data["variant"] == "smollm2-135m"
    assert 0 < data["tokens"] <= 16 and data["seconds"] > 0
    from travelbot.store import Store
    from travelbot.config import get_settings

    turns = Store(get_settings().database_url).turns(data["conversation_id"])
    assert [t.answer for t in turns] == [data["answer"]]


def test_chat_streams_plain_text(home, backend):
    result = run("chat", "smollm2-135m-precise", "Name one museum in Paris.", "--max-new-tokens", "12")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "tok/s" in result.stderr


def test_unknown_variant_exits_2_with_one_sentence(home):
    result = run("chat", "nope", "hello")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: Unknown variant 'nope'; known variants:")
    assert "Traceback" not in result.stderr


def test_empty_message_exits_2(home):
    result = run("chat", "smollm2-135m", "   ")
    assert result.returncode == 2
    assert "message is empty" in result.stderr and "Traceback" not in result.stderr


def test_arena_votes_and_leaderboard_from_the_terminal(home, backend, tmp_path):
    import os

    env = {**os.environ, "TRAVELBOT_DB_URL": f"sqlite:///{tmp_path / 'arena.db'}", "TRAVELBOT_FLAG_WORDS": "",
           "TRAVELBOT_ARENA_WEIGHTS": "*=0,smollm2-135m=1,smollm2-135m-precise=1"}

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "travelbot", *args], input=stdin, capture_output=True,
                              text=True, timeout=300, env=env)

    battle = cli("arena", "--voter", "ana", "--max-new-tokens", "8", stdin="Is Rome walkable?\n\nb\n")
    assert battle.returncode == 0, battle.stderr
    assert "--- Model A ---" in battle.stdout and "--- Model B ---" in battle.stdout
    assert "A was smollm2-135m" in battle.stdout or "A was smollm2-135m-precise" in battle.stdout

    out = tmp_path / "votes.jsonl"
    exported = cli("votes", "export", str(out))
    assert exported.returncode == 0 and "1 votes written" in exported.stdout
    row = json.loads(out.read_text(encoding="utf-8"))
    assert row["winner"] == "model_b" and row["judge"] == "human:cli:ana"

    board = cli("leaderboard", "--json", "--rounds", "200")
    assert board.returncode == 0, board.stderr
    data = json.loads(board.stdout)
    assert data["leaderboard"]["n_battles"] == 1 and len(data["leaderboard"]["ratings"]) == 2
    assert cli("leaderboard", "--rounds", "50").returncode == 2  # at least 200 resamples

    env["TRAVELBOT_DB_URL"] = f"sqlite:///{tmp_path / 'other.db'}"
    with out.open("a", encoding="utf-8") as f:
        f.write('{"model_a": "x", "model_b": "y", "winner": "nobody"}\n')
    imported = cli("votes", "import", str(out), "--json")
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert report["loaded"] == 1 and report["refused"] == 1
    missing = cli("votes", "import", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_judgments_import_and_agreement(home, tmp_path):
    import os

    from tests.conftest import find_pandalm

    folder = find_pandalm()
    if folder is None:
        pytest.skip("the PandaLM test set is not on this machine")
    env = {**os.environ, "TRAVELBOT_DB_URL": f"sqlite:///{tmp_path / 'judgments.db'}"}
    cli = lambda *args: subprocess.run([sys.executable, "-m", "travelbot", *args], capture_output=True,  # noqa: E731
                                       text=True, timeout=300, env=env)
    imported = cli("judgments", "import", str(folder), "--format", "pandalm", "--json")
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert report["imported"] == 999 and report["refused"] == 6 and report["set"] == "pandalm"
    result = cli("agreement", "--source", "pandalm", "--rounds", "200", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row["agreement"] for row in json.loads(result.stdout)["rows"]}
    assert rows["gpt-3.5-turbo"]["accuracy"]["value"] == pytest.approx(0.7107, abs=5e-5)
    assert rows["pandalm-7b"]["f1"]["value"] == pytest.approx(0.5743, abs=5e-5)
    table = cli("agreement", "--source", "pandalm", "--rounds", "200")
    assert "gpt-3.5-turbo" in table.stdout and "Fleiss' kappa 0.8642" in table.stdout
    assert "Agreement with confidence (Arena-Hard)" in table.stdout  # the models each item compares, ranked
    assert any(line.strip().startswith("pandalm-7b") and "5 variants: separability" in line
               for line in table.stdout.splitlines())
    missing = cli("agreement", "--source", "nope")
    assert missing.returncode == 2 and "No judgment set named 'nope'" in missing.stderr
    env["TRAVELBOT_DB_URL"] = f"sqlite:///{tmp_path / 'fresh.db'}"  # a fresh home: the shipped set needs no import
    fresh = cli("agreement", "--source", "pandalm", "--rounds", "200", "--metrics", "rougeL",
                "--reference-from", "gpt-3.5-turbo")
    assert fresh.returncode == 0 and "Imported the bundled judgment set 'pandalm'" in fresh.stderr, fresh.stderr
    assert "reference answer gpt-3.5-turbo wrote while judging" in fresh.stdout


def test_store_agreement_with_a_scope(home, tmp_path):
    import os

    env = {**os.environ, "TRAVELBOT_DB_URL": f"sqlite:///{tmp_path / 'scope.db'}"}
    cli = lambda *args: subprocess.run([sys.executable, "-m", "travelbot", *args], capture_output=True,  # noqa: E731
                                       text=True, timeout=300, env=env)
    result = cli("agreement", "--metrics", "bleu", "--split", "dev", "--variants", "smollm2-135m",
                 "--criterion", "relevance", "--rounds", "200", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["scope"] == {"split": "dev", "variants": ["smollm2-135m"], "criterion": "relevance"}
    assert found["votes_considered"] == 0 and found["rated_answers"] == 0 and found["rankings"] == {}
    text = cli("agreement", "--metrics", "bleu", "--criterion", "relevance", "--rounds", "200")
    assert "evaluation answers rated on relevance: 0" in text.stdout
    wrong = cli("agreement", "--split", "train")
    assert wrong.returncode != 0 and "Unknown split 'train'" in wrong.stderr and "Traceback" not in wrong.stderr


def test_every_command_is_listed_however_the_module_is_run():
    from travelbot.cli import main

    for module in ("travelbot", "travelbot.cli"):
        shown = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0, shown.stderr
        listed = {line.split()[0] for line in shown.stdout.split("Commands:")[1].splitlines() if line.strip()}
        assert listed == set(main.commands), (module, set(main.commands) - listed)


def test_jobs_from_the_terminal(home):
    queued = run("eval", "--variants", "smollm2-135m", "--scorers", "length", "--limit", "1", "--max-new-tokens", "8",
                 "--background", "--json")
    assert queued.returncode == 0, queued.stderr
    job = json.loads(queued.stdout)
    assert job["kind"] == "eval" and job["status"] in ("queued", "running")
    assert not run("eval", "--variants", "no-such-variant", "--background").returncode == 0  # refused before queueing

    import time

    deadline = time.monotonic() + 240
    while (shown := json.loads(run("jobs", "show", str(job["id"]), "--json").stdout))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, shown
        time.sleep(1)
    assert shown["status"] == "succeeded", shown
    assert shown["result"]["run_id"] and shown["command"][-2:] == ["--job-id", str(job["id"])]
    assert any("answer_words" in line for line in shown["output_tail"])  # the run's table, as a foreground run prints it
    listed = json.loads(run("jobs", "--kind", "eval", "--json").stdout)
    assert job["id"] in [j["id"] for j in listed] and {j["kind"] for j in listed} == {"eval"}
    table = run("jobs")
    assert table.returncode == 0 and "eval  succeeded" in table.stdout

    again = run("jobs", "cancel", str(job["id"]))
    assert again.returncode != 0 and again.stderr.strip() == (
        f"Error: Job {job['id']} has already succeeded; only queued or running jobs can be cancelled.")
    unknown = run("jobs", "show", "424242")
    assert unknown.returncode != 0 and "There is no job 424242" in unknown.stderr
