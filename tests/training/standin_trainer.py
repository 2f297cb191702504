"""A stand-in for ``python -m travelbot train``: the same JSONL log and job callbacks, no model.

    python tests/training/standin_trainer.py --job-id 3 --run-dir RUN --steps 3 --sleep 0.1 [--fail] [--grandchild]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from travelbot.jobs import finish_job, record_progress

PATH = Path(__file__).resolve()


def argv(steps: int = 3, sleep: float = 0.1, *extra: str) -> list[str]:
    """The command line ``submit_job(..., argv=...)`` needs; it fills in ``{job_id}`` and ``{run_dir}``."""
    return [sys.executable, str(PATH), "--job-id", "{job_id}", "--run-dir", "{run_dir}",
            "--steps", str(steps), "--sleep", str(sleep), *extra]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--job-id", type=int, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--fail", action="store_true", help="end with status failed")
    parser.add_argument("--grandchild", action="store_true", help="start a long-lived grandchild process")
    args = parser.parse_args()

    run = args.run_dir
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps({"name": run.name, "max_steps": args.steps}), encoding="utf-8")
    log = (run / "trainer_log.jsonl").open("w", encoding="utf-8")

    def emit(event: dict) -> None:
        log.write(json.dumps({"time": datetime.now(UTC).isoformat(), **event}) + "\n")
        log.flush()

    if args.grandchild:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        (run / "grandchild.pid").write_text(str(child.pid), encoding="utf-8")
    emit({"event": "start", "method": "qlora", "name": run.name, "max_steps": args.steps})
    began = time.monotonic()
    for step in range(1, args.steps + 1):
        time.sleep(args.sleep)
        elapsed = time.monotonic() - began
        event = {"event": "log", "step": step, "max_steps": args.steps, "epoch": round(step / args.steps, 3),
                 "loss": round(2.0 / step, 4), "eval_loss": round(2.2 / step, 4) if step % 2 == 0 else None,
                 "learning_rate": 3e-4 * (1 - step / args.steps), "tokens_per_second": 123.4,
                 "eta_seconds": round(elapsed / step * (args.steps - step), 2), "elapsed_seconds": round(elapsed, 2)}
        emit(event)
        print(f"step {step}/{args.steps} loss {event['loss']}", flush=True)
        record_progress(args.job_id, event)
    if args.fail:
        emit({"event": "end", "status": "failed", "error": "The stand-in failed on purpose.", "metrics": {}})
        print("failing on purpose", flush=True)
        finish_job(args.job_id, "failed", error="The stand-in failed on purpose.")
        sys.exit(1)
    (run / "adapter").mkdir(exist_ok=True)
    metrics = {"train_loss": 2.0 / args.steps, "train_runtime": round(time.monotonic() - began, 2)}
    emit({"event": "end", "status": "succeeded", "error": None, "metrics": metrics})
    print("done", flush=True)
    finish_job(args.job_id, "succeeded", metrics=metrics)


if __name__ == "__main__":
    main()
