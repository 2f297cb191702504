"""Arena under load: concurrent voters battle and vote against a launched app on loopback; prints JSON.

    python bench/arena_votes.py [--clients 50] [--votes 20] [--db-url postgresql+psycopg://...]

Each client is a gradio_client session with its own browser id. Per vote it starts a round, asks one
question (both anonymous sides answer through an OpenAI-compatible server on loopback, so the figures
measure the arena, not the model) and votes. Afterwards the store must hold exactly clients x votes
vote rows, one per battle. The reference is the latency of "New round" (a no-op event through the same
queue) in the same run, so the vote latency is also reported as a ratio to it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.openai_server import OpenAIServer  # noqa: E402

VARIANTS = ("loopback-a", "loopback-b", "loopback-c")
VOTES = ("/arena_vote_a", "/arena_vote_b", "/arena_vote_tie", "/arena_vote_both")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(1000 * percentile(values, 0.5), 1),
            "p95_ms": round(1000 * percentile(values, 0.95), 1), "mean_ms": round(1000 * statistics.fmean(values), 1)}


def launch(home: Path, endpoint: str, db_url: str | None) -> tuple[subprocess.Popen, str]:
    models = "\n".join([f'[bases.loopback]\nendpoint = "{endpoint}"\nmodel = "loopback"\n'] + [
        f'[variants.{name}]\nbase = "loopback"\nmethod = "base"\nendpoint_model = "{name}"\n' for name in VARIANTS])
    (home / "models.toml").write_text(models, encoding="utf-8")
    port = free_port()
    env = {**os.environ, "TRAVELBOT_HOME": str(home), "TRAVELBOT_VOTES_PER_DAY": "100000",
           "TRAVELBOT_ARENA_WEIGHTS": "*=0," + ",".join(f"{v}=1" for v in VARIANTS), "TRAVELBOT_FLAG_WORDS": ""}
    if db_url:
        env["TRAVELBOT_DB_URL"] = db_url
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed with the process
    server = subprocess.Popen([sys.executable, "-m", "travelbot", "serve", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return server, url
        except OSError:
            if server.poll() is not None:
                raise SystemExit((home / "server.log").read_text()[-3000:]) from None
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the app did not start in 180 s")


def run_client(url: str, index: int, votes: int, results: dict, lock: threading.Lock) -> None:
    from gradio_client import Client

    rng = random.Random(index)
    key = f"benchclient{index:06d}"
    timings: dict[str, list[float]] = {"new_round": [], "send": [], "vote": []}
    errors: list[str] = []
    client = Client(url, verbose=False)
    for n in range(votes):
        try:
            t0 = time.perf_counter()
            client.predict(api_name="/arena_new_round")
            t1 = time.perf_counter()
            _, _, _, status = client.predict(message=f"Client {index} question {n}: is Lisbon walkable?", chat_a=[],
                                             chat_b=[], voter_key=key, name="", api_name="/arena_send")
            t2 = time.perf_counter()
            reveal, status, _ = client.predict(key=key, who="", api_name=rng.choice(VOTES))
            t3 = time.perf_counter()
            if not reveal.startswith("### Thank you"):
                errors.append(f"client {index} vote {n}: {status}")
            timings["new_round"].append(t1 - t0)
            timings["send"].append(t2 - t1)
            timings["vote"].append(t3 - t2)
        except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
            errors.append(f"client {index} vote {n}: {type(exc).__name__}: {exc}")
    with lock:
        for name, values in timings.items():
            results.setdefault(name, []).extend(values)
        results.setdefault("errors", []).extend(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--votes", type=int, default=20, help="votes per client")
    parser.add_argument("--db-url", default=None, help="a database URL (default: SQLite in a temporary home)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, OpenAIServer() as endpoint:
        home = Path(tmp)
        server, url = launch(home, endpoint.base_url, args.db_url)
        try:
            results: dict = {}
            lock = threading.Lock()
            started = time.perf_counter()
            threads = [threading.Thread(target=run_client, args=(url, i, args.votes, results, lock))
                       for i in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)

        os.environ["TRAVELBOT_HOME"] = str(home)
        if args.db_url:
            os.environ["TRAVELBOT_DB_URL"] = args.db_url
        from travelbot.feedback.votes import battle_rows

        rows = battle_rows()
        battles = [row["question_id"] for row in rows]
        expected = args.clients * args.votes
        vote, reference = summary(results["vote"]), summary(results["new_round"])
        print(json.dumps({
            "clients": args.clients, "votes_per_client": args.votes, "database": "postgresql" if args.db_url else
            "sqlite", "expected_votes": expected, "vote_rows": len(rows), "distinct_battles": len(set(battles)),
            "errors": len(results["errors"]), "first_errors": results["errors"][:5],
            "exactly_expected": len(rows) == expected == len(set(battles)) and not results["errors"],
            "vote_latency": vote, "send_latency": summary(results["send"]), "reference_new_round_latency": reference,
            "vote_p50_vs_reference": round(vote["p50_ms"] / reference["p50_ms"], 2),
            "vote_p95_vs_reference": round(vote["p95_ms"] / reference["p95_ms"], 2),
            "wall_s": round(wall, 1), "votes_per_s": round(len(rows) / wall, 1),
        }, indent=2))


if __name__ == "__main__":
    main()
