"""Serving the public from a Hugging Face Space: who is an admin, whether data survives a restart,
ZeroGPU, and copying votes and ratings to a Hub dataset.

Hosted mode is on when ``SPACE_ID`` is set (Spaces sets it) or ``TRAVELBOT_MODE=space``. Admin actions
fail closed: open to everyone only on a server that listens on loopback (or with ``TRAVELBOT_OPEN=1``);
on a Space, or any other address, only to the Hub users named in ``TRAVELBOT_ADMINS``, signed in.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

from travelbot.config import Settings, get_settings
from travelbot.errors import TravelbotError

log = logging.getLogger(__name__)

ADMIN_ONLY = ("On this Space only its admins can do that: sign in with Hugging Face as a user named in "
              "TRAVELBOT_ADMINS.")
ADMIN_ACTIONS = "training, dataset builds, uploads and evaluation runs"


def is_admin(username: str | None, settings: Settings | None = None) -> bool:
    """Whether this user may use admin actions: everyone on a loopback-only server or with TRAVELBOT_OPEN=1;
    otherwise (a Space, or any other address) only a signed-in user named in ``TRAVELBOT_ADMINS``."""
    settings = settings or get_settings()
    if settings.open_admin or (settings.loopback and not settings.hosted):
        return True
    return bool(username) and username.lower() in {a.lower() for a in settings.admins}


def admin_refusal(settings: Settings | None = None) -> str:
    """The sentence a visitor who may not use admin actions is given."""
    settings = settings or get_settings()
    if settings.hosted:
        return ADMIN_ONLY
    return (f"This server listens on {settings.host}, so {ADMIN_ACTIONS} are off for visitors: run them with the "
            "travelbot command on the server, serve on 127.0.0.1, or restart with TRAVELBOT_OPEN=1 to let every "
            "visitor use them.")


def require_admin(username: str | None, settings: Settings | None = None) -> None:
    if not is_admin(username, settings):
        raise TravelbotError(admin_refusal(settings))


def open_warning(settings: Settings | None = None) -> str | None:
    """The banner of a server reachable from other machines that lets every visitor use admin actions."""
    settings = settings or get_settings()
    if settings.open_admin and (settings.hosted or not settings.loopback):
        return (f"⚠️ TRAVELBOT_OPEN is on: every visitor of this server may use {ADMIN_ACTIONS}, at the server's "
                "cost.")
    return None


def check_sign_in(settings: Settings | None = None) -> None:
    """Refuse to start with a Hugging Face sign-in that would not be real.

    Outside a Space Gradio mocks the login with the machine's own Hub token, which would make every visitor
    that token's owner (and an admin, if they are one); on a Space the client secret signs the sessions.
    """
    settings = settings or get_settings()
    if not settings.oauth_enabled:
        return
    if not settings.on_spaces:
        raise TravelbotError("OAUTH_CLIENT_ID is set but this is not a Hugging Face Space: Gradio would sign every "
                             "visitor in as the owner of this machine's Hub token. Unset OAUTH_CLIENT_ID here "
                             "(people then vote with a browser id); sign-in works on a Space with hf_oauth: true.")
    if not settings.oauth_secret:
        raise TravelbotError("OAUTH_CLIENT_ID is set without OAUTH_CLIENT_SECRET, so sign-in sessions could be "
                             "forged; set hf_oauth: true in the Space's card and let Spaces set both.")


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


# ---------------------------------------------------------------- mirroring to a Hub dataset


def mirror_feedback(settings: Settings | None = None, api: Any = None) -> dict[str, int]:
    """Copy votes and ratings to the dataset repo ``TRAVELBOT_MIRROR_REPO`` (created private if missing;
    refused if it exists and is public)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    from travelbot.feedback.export import export_feedback
    from travelbot.store import get_store

    settings = settings or get_settings()
    if not settings.mirror_repo:
        raise TravelbotError("Set TRAVELBOT_MIRROR_REPO to a Hub dataset repo (user/name) to mirror votes and ratings.")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=settings.hf_token)
    with tempfile.TemporaryDirectory() as tmp:
        counts = export_feedback(Path(tmp), get_store())
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
