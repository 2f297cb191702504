"""Serving the public from a Hugging Face Space: who is an admin, whether data survives a restart,
ZeroGPU, and copying votes and ratings to a Hub dataset.

Hosted mode is on when ``SPACE_ID`` is set (Spaces sets it) or ``TRAVELBOT_MODE=space``. Locally every
user of the machine is an admin; on a Space only the Hub users named in ``TRAVELBOT_ADMINS``, signed in.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from travelbot.config import Settings, get_settings
from travelbot.errors import TravelbotError

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

ADMIN_ONLY = ("On this Space only its admins can do that: sign in with Hugging Face as a user named in "
              "TRAVELBOT_ADMINS.")


def is_admin(username: str | None, settings: Settings | None = None) -> bool:
    """Whether this user may train, build datasets and run evaluations (anyone, when not hosted)."""
    settings = settings or get_settings()
    if not settings.hosted:
        return True
    return bool(username) and username.lower() in {a.lower() for a in settings.admins}


def require_admin(username: str | None, settings: Settings | None = None) -> None:
    if not is_admin(username, settings):
        raise TravelbotError(ADMIN_ONLY)


def storage_warning(settings: Settings | None = None) -> str | None:
    """The banner a hosted app shows when its data home is not on persistent storage (else None)."""
    settings = settings or get_settings()
    if settings.persistent:
        return None
    mirrored = (f" They are copied to the dataset {settings.mirror_repo} every {settings.mirror_minutes} minutes."
                if settings.mirror_repo else "")
    return ("⚠️ This Space has no persistent storage: votes, ratings and runs will be lost on restart."
            f"{mirrored} (Admins: enable persistent storage in the Space's settings so they are kept in "
            f"{settings.persistent_dir}.)")


def gpu(function: F) -> F:
    """``@spaces.GPU`` on ZeroGPU Spaces (the ``spaces`` package is there); the function itself elsewhere."""
    settings = get_settings()
    if not settings.space_id:
        return function
    try:
        import spaces
    except ImportError:
        return function
    decorator = getattr(spaces, "GPU", None)
    return decorator(function) if callable(decorator) else function


# ---------------------------------------------------------------- mirroring to a Hub dataset


def export_feedback(folder: Path) -> dict[str, int]:
    """Write the store's votes (FastChat battle rows) and ratings as JSONL into ``folder``."""
    from travelbot.feedback.ratings import rating_rows
    from travelbot.feedback.votes import export_votes
    from travelbot.store import get_store

    store = get_store()
    folder.mkdir(parents=True, exist_ok=True)
    votes = export_votes(folder / "votes.jsonl", store)
    rows = rating_rows(store)
    with (folder / "ratings.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return {"votes": votes, "ratings": len(rows)}


def mirror_feedback(settings: Settings | None = None, api: Any = None) -> dict[str, int]:
    """Copy votes and ratings to the dataset repo ``TRAVELBOT_MIRROR_REPO`` (created private if missing;
    refused if it exists and is public)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    settings = settings or get_settings()
    if not settings.mirror_repo:
        raise TravelbotError("Set TRAVELBOT_MIRROR_REPO to a Hub dataset repo (user/name) to mirror votes and ratings.")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=settings.hf_token)
    with tempfile.TemporaryDirectory() as tmp:
        counts = export_feedback(Path(tmp))
        try:
            try:
                public = not api.repo_info(settings.mirror_repo, repo_type="dataset").private
            except RepositoryNotFoundError:
                public = False  # created private below
            if public:
                raise TravelbotError(f"The dataset {settings.mirror_repo} is public, and votes and ratings hold voter "
                                     "ids and conversations: make it private on the Hub, or set TRAVELBOT_MIRROR_REPO "
                                     "to another repo.")
            api.create_repo(settings.mirror_repo, repo_type="dataset", private=True, exist_ok=True)
            api.upload_folder(repo_id=settings.mirror_repo, repo_type="dataset", folder_path=tmp,
                              commit_message=f"travelbot feedback: {counts['votes']} votes, {counts['ratings']} ratings")
        except TravelbotError:
            raise
        except Exception as exc:  # the Hub's errors vary: network, auth, quota
            raise TravelbotError(f"Could not copy votes and ratings to {settings.mirror_repo} "
                                 f"({type(exc).__name__}: {exc}); check HF_TOKEN has write access.") from exc
    return counts


def start_mirroring(settings: Settings | None = None) -> threading.Thread | None:
    """Mirror every ``TRAVELBOT_MIRROR_MINUTES`` in a daemon thread when a mirror repo is configured."""
    settings = settings or get_settings()
    if not settings.mirror_repo:
        return None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(settings.mirror_minutes * 60):
            try:
                counts = mirror_feedback(settings)
                log.info("mirrored %s votes and %s ratings to %s", counts["votes"], counts["ratings"],
                         settings.mirror_repo)
            except TravelbotError as exc:
                log.warning("%s", exc)

    thread = threading.Thread(target=loop, name="mirror-feedback", daemon=True)
    thread.start()
    return thread
