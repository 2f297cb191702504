"""Hugging Face Space packaging: ``travelbot space build OUTDIR`` and ``travelbot space deploy REPO_ID``.

A built Space is a folder ready to push: ``app.py``, the ``travelbot`` package, ``assets/`` (models
config, demo adapters, corpus and its index, golden set), the Space card (``README.md`` with its YAML front matter) and
``requirements.txt``, the last two from ``spaces/``. :func:`check_space` checks a folder the way the Hub
reads it: the card parses with the required fields, its Gradio version is the one travelbot pins, and the
requirements name every dependency travelbot declares.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from pathlib import Path
from typing import Any

from travelbot.config import Settings, get_settings
from travelbot.errors import TravelbotError

ROOT = Path(__file__).resolve().parent.parent
CARD_FIELDS = ("title", "sdk", "sdk_version", "app_file", "python_version", "short_description", "license", "tags")
SHORT_DESCRIPTION_LIMIT = 60  # the Hub refuses longer ones
SPACE_EXTRAS = ("ragas", "fast")  # Ragas metrics; llama.cpp for fast chat on a CPU Space
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".travelbot*", "*.egg-info")


def _name(requirement: str) -> str:
    from packaging.requirements import Requirement

    return Requirement(requirement).name.lower().replace("_", "-")


def declared_requirements() -> list[str]:
    """travelbot's own dependencies and the extras a Space runs with (``ragas``, ``fast``): from
    pyproject.toml in a checkout, else as installed."""
    pyproject = ROOT / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        extras = project.get("optional-dependencies", {})
        return [*project["dependencies"], *(spec for extra in SPACE_EXTRAS for spec in extras.get(extra, []))]
    found = []
    for spec in importlib.metadata.requires("travelbot") or []:
        requirement, _, marker = spec.partition(";")
        if not marker or any(f'extra == "{extra}"' in marker.replace("'", '"') for extra in SPACE_EXTRAS):
            found.append(requirement.strip())
    return found


def pinned_gradio() -> str | None:
    """The Gradio version travelbot pins (``gradio==X``), which the card's sdk_version must equal."""
    for spec in declared_requirements():
        match = re.fullmatch(r"gradio\s*==\s*([\w.]+)", spec)
        if match:
            return match.group(1)
    return None


def read_requirements(path: Path) -> list[str]:
    """Requirement lines of a requirements file (no comments, options or blank lines; a requirement's own
    options, such as ``--config-settings``, are dropped)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].split(" --", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def check_space(folder: Path) -> list[str]:
    """What would keep this folder from running as a Space (an empty list when nothing)."""
    from huggingface_hub import SpaceCard

    folder = Path(folder)
    problems: list[str] = []
    card_path, requirements_path = folder / "README.md", folder / "requirements.txt"
    if not card_path.is_file():
        return [f"{card_path} is missing: the Space card (README.md with YAML front matter)."]
    try:
        card = SpaceCard.load(card_path).data.to_dict()
    except Exception as exc:  # huggingface_hub raises ValueError or YAML errors
        return [f"The Space card does not parse ({type(exc).__name__}: {exc})."]
    problems += [f"The Space card has no {field!r}." for field in CARD_FIELDS if not card.get(field)]
    if card.get("sdk") not in (None, "gradio"):
        problems.append(f"The Space card's sdk is {card['sdk']!r}; travelbot is a gradio app.")
    gradio_pin = pinned_gradio()
    if card.get("sdk_version") and gradio_pin and str(card["sdk_version"]) != gradio_pin:
        problems.append(f"The card's sdk_version {card['sdk_version']} is not the Gradio travelbot pins ({gradio_pin}).")
    if len(str(card.get("short_description", ""))) > SHORT_DESCRIPTION_LIMIT:
        problems.append(f"The card's short_description is longer than {SHORT_DESCRIPTION_LIMIT} characters.")
    if card.get("app_file") and not (folder / card["app_file"]).is_file():
        problems.append(f"The card's app_file {card['app_file']} is not in the folder.")
    if not card.get("hf_oauth"):
        problems.append("The card does not set hf_oauth: true (voters and admins sign in with Hugging Face).")
    for needed in ("travelbot/__init__.py", "assets/models.toml"):
        if not (folder / needed).is_file():
            problems.append(f"{needed} is missing from the folder.")
    if not requirements_path.is_file():
        return [*problems, "requirements.txt is missing."]
    requirements = read_requirements(requirements_path)
    names = {_name(r) for r in requirements}
    for spec in declared_requirements():
        if _name(spec) not in names:
            problems.append(f"requirements.txt does not name {_name(spec)} (travelbot needs {spec}).")
    if gradio_pin and f"gradio=={gradio_pin}" not in [r.replace(" ", "") for r in requirements]:
        problems.append(f"requirements.txt must pin gradio=={gradio_pin}, the card's sdk_version.")
    return problems


def _refuse_to_replace(out: Path, settings: Settings) -> None:
    """Never delete the checkout, the home folder or the data home (nor a folder holding one), even via a symlink."""
    target = out.resolve()
    for kept, what in ((ROOT, "the travelbot checkout"), (Path.home(), "your home folder"),
                       (settings.home, "travelbot's data home (TRAVELBOT_HOME)")):
        kept = Path(kept).resolve()
        if target == kept or target in kept.parents:
            raise TravelbotError(f"Refusing to replace {out}: deleting it would delete {what} ({kept}); "
                                 "choose a new or empty folder for the Space.")


def build_space(out: Path, *, replace: bool = False, settings: Settings | None = None) -> Path:
    """Assemble a ready-to-push Space folder at ``out`` and check it (``replace`` deletes what is there first)."""
    out = Path(out)
    sources = {"app.py": ROOT / "app.py", "travelbot": ROOT / "travelbot", "assets": ROOT / "assets",
               "README.md": ROOT / "spaces" / "README.md", "requirements.txt": ROOT / "spaces" / "requirements.txt"}
    missing = [str(path) for path in sources.values() if not path.exists()]
    if missing:
        raise TravelbotError(f"Cannot build a Space from this installation: {', '.join(missing)} missing "
                             "(build from a checkout of the repository).")
    if out.exists() and any(out.iterdir()):
        if not replace:
            raise TravelbotError(f"{out} is not empty; choose another folder or pass --replace.")
        _refuse_to_replace(out, settings or get_settings())
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, source in sources.items():
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=IGNORED)
        else:
            shutil.copy2(source, out / name)
    problems = check_space(out)
    if problems:
        raise TravelbotError("The built Space is not valid: " + " ".join(problems))
    return out


def deploy_space(repo_id: str, *, folder: Path | None = None, private: bool = False,
                 settings: Settings | None = None, api: Any = None) -> str:
    """Create (if needed) the Space ``repo_id`` and upload a built folder to it; returns the Space's URL."""
    import tempfile

    settings = settings or get_settings()
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id or ""):
        raise TravelbotError(f"{repo_id!r} is not a Space id; use owner/name, e.g. my-team/travelbot.")
    if api is None:
        if not settings.hf_token:
            raise TravelbotError("Set HF_TOKEN to a Hugging Face token with write access to deploy a Space.")
        from huggingface_hub import HfApi

        api = HfApi(token=settings.hf_token)
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(folder) if folder is not None else build_space(Path(tmp) / "space")
        problems = check_space(built)
        if problems:
            raise TravelbotError("The Space folder is not valid: " + " ".join(problems))
        try:
            url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=str(built),
                              commit_message="Deploy travelbot")
        except Exception as exc:  # network, auth, quota: the Hub's errors vary
            raise TravelbotError(f"Could not deploy to {repo_id} ({type(exc).__name__}: {exc}).") from exc
    return str(url)
