"""``travelbot space build|check|deploy``: the built folder as the Hub reads it, pushed to a loopback Hub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gradio
import pytest
from huggingface_hub import HfApi, SpaceCard

from tests.hub_server import HubServer
from travelbot.errors import TravelbotError
from travelbot.space import build_space, check_space, declared_requirements, pinned_gradio, read_requirements


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_space(tmp_path_factory.mktemp("space") / "out")


def test_built_folder_holds_the_app_the_card_and_the_requirements(built: Path) -> None:
    assert {p.name for p in built.iterdir()} == {"app.py", "travelbot", "assets", "README.md", "requirements.txt"}
    card = SpaceCard.load(built / "README.md").data
    assert card.sdk == "gradio" and card.app_file == "app.py" and card.python_version == "3.11"
    assert card.sdk_version == pinned_gradio() == gradio.__version__
    assert card.hf_oauth is True and card.license and card.tags and len(card.short_description) <= 60
    assert (built / "assets" / "adapters" / "smollm2-raft" / "adapter_model.safetensors").is_file()
    assert not list(built.rglob("__pycache__")) and not list(built.rglob("*.pyc"))
    assert check_space(built) == []


def test_requirements_name_every_dependency_and_a_cpu_torch(built: Path) -> None:
    requirements = read_requirements(built / "requirements.txt")
    names = {r.split("=")[0].split(">")[0].split("<")[0].split("[")[0].strip().lower() for r in requirements}
    assert {"gradio", "transformers", "peft", "ragas"} <= names
    assert len(declared_requirements()) >= 20
    assert "torch==2.13.0" in requirements  # a bare range would pull the newest CUDA build
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in (built / "requirements.txt").read_text()
    # llama.cpp is built without OpenMP, as `make` builds it; the option is not part of the requirement
    assert "llama-cpp-python==0.3.36" in requirements
    assert "llama-cpp-python==0.3.36 --config-settings=cmake.args=-DGGML_OPENMP=OFF" in (
        built / "requirements.txt").read_text()


def test_check_names_each_problem(built: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(built, broken)
    card = (broken / "README.md").read_text(encoding="utf-8")
    card = card.replace(f"sdk_version: {gradio.__version__}", "sdk_version: 4.0.0").replace("hf_oauth: true\n", "")
    (broken / "README.md").write_text(card, encoding="utf-8")
    requirements = (broken / "requirements.txt").read_text(encoding="utf-8")
    (broken / "requirements.txt").write_text(requirements.replace("\npeft>=0.17", ""), encoding="utf-8")
    problems = check_space(broken)
    assert any("sdk_version 4.0.0 is not the Gradio travelbot pins" in p for p in problems)
    assert any("hf_oauth" in p for p in problems)
    assert any("does not name peft" in p for p in problems)
    (broken / "README.md").write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    assert check_space(broken)[0].startswith("The Space card does not parse")


def test_build_refuses_a_folder_with_something_in_it(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(TravelbotError, match="is not empty"):
        build_space(tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert check_space(build_space(tmp_path, replace=True)) == []


def test_replace_refuses_the_checkout_the_home_folder_and_the_data_home(tmp_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from travelbot.cli import main
    from travelbot.config import get_settings
    from travelbot.space import ROOT

    deleted: list[str] = []  # a regression must fail the test, not delete the checkout
    monkeypatch.setattr("travelbot.space.shutil.rmtree", lambda path, *a, **k: deleted.append(str(path)))
    fake_home = tmp_path / "users" / "mo"
    (fake_home / "notes").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(fake_home))
    (tmp_path / "link").symlink_to(ROOT)
    data_home = get_settings().home
    data_home.mkdir(parents=True, exist_ok=True)
    (data_home / "keep.txt").write_text("votes")
    kept = [ROOT, ROOT.parent, Path("/"), tmp_path / "link", fake_home, tmp_path / "users", data_home]
    for folder in kept:
        with pytest.raises(TravelbotError, match=r"Refusing to replace .*: deleting it would delete"):
            build_space(folder, replace=True)
    result = CliRunner().invoke(main, ["space", "build", str(tmp_path / "link"), "--replace"])
    assert result.exit_code != 0 and "deleting it would delete the travelbot checkout" in result.output
    assert deleted == [] and (ROOT / "app.py").is_file() and (data_home / "keep.txt").is_file()


def test_deploy_pushes_every_file_to_the_hub(built: Path) -> None:
    from travelbot.space import deploy_space

    with HubServer() as hub:
        url = deploy_space("team/travelbot", folder=built, api=HfApi(endpoint=hub.url, token="hf_test"))
        repo = hub.repos[("space", "team/travelbot")]
    assert url.endswith("/spaces/team/travelbot") and repo.options["sdk"] == "gradio"
    local = {str(p.relative_to(built)): p.read_bytes() for p in built.rglob("*") if p.is_file()}
    assert repo.files == local and repo.commits == ["Deploy travelbot"]


def test_deploy_says_what_went_wrong(built: Path) -> None:
    from dataclasses import replace

    from travelbot.config import get_settings
    from travelbot.space import deploy_space

    with pytest.raises(TravelbotError, match="is not a Space id"):
        deploy_space("travelbot", folder=built)
    with pytest.raises(TravelbotError, match="Set HF_TOKEN"):
        deploy_space("team/travelbot", folder=built, settings=replace(get_settings(), hf_token=None))
    with HubServer() as hub, pytest.raises(TravelbotError, match="Could not deploy to team/travelbot.*401"):
        deploy_space("team/travelbot", folder=built, api=HfApi(endpoint=hub.url, token="wrong"))


def test_cli_builds_and_checks(tmp_path: Path) -> None:
    out = tmp_path / "space"
    run = lambda *args: subprocess.run([sys.executable, "-m", "travelbot", *args], capture_output=True,  # noqa: E731
                                       text=True, timeout=120)
    built = run("space", "build", str(out))
    assert built.returncode == 0, built.stderr
    assert "push it with" in built.stdout
    assert run("space", "check", str(out)).returncode == 0
    again = run("space", "build", str(out))
    assert again.returncode != 0 and "is not empty" in again.stderr and "Traceback" not in again.stderr
    (out / "requirements.txt").write_text("gradio==1.0\n")
    checked = run("space", "check", str(out))
    assert checked.returncode == 1 and "does not name transformers" in checked.stderr
