"""The built Space as the Hub would run it: its requirements.txt installed into a clean virtual
environment, then ``python app.py`` inside the folder, serving the dashboard."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from travelbot.space import build_space

pytestmark = [pytest.mark.slow, pytest.mark.space, pytest.mark.timeout(2400)]


def test_requirements_install_into_a_clean_venv_and_app_py_serves(tmp_path: Path) -> None:
    folder = build_space(tmp_path / "space")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # --retries 0: an index that cannot be reached (the PyTorch CPU index, offline here) fails fast;
    # --no-cache-dir as on the Hub: pip's wheel cache ignores build options, so a llama.cpp wheel built
    # earlier with other options would be reused
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-cache-dir", "--retries", "0",
                                "-r", str(folder / "requirements.txt")], capture_output=True, text=True, timeout=2000)
    assert installed.returncode == 0, installed.stderr[-3000:]
    torch_version = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    assert torch_version.startswith("2.13.0")  # the pinned CPU-friendly build, not a newer CUDA one
    system = subprocess.run([str(python), "-c", "import llama_cpp; print(llama_cpp.llama_print_system_info())"],
                            capture_output=True, text=True, check=True).stdout
    assert "AVX2 = 1" in system and "OPENMP = 1" not in system  # built here, with the requirement's options

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAVELBOT_", "PYTHONPATH"))}
    env.update(TRAVELBOT_PORT=str(port), TRAVELBOT_HOME=str(tmp_path / "home"))
    log = (tmp_path / "app.log").open("w")
    server = subprocess.Popen([str(python), "app.py"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 300
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "app.log").read_text()[-3000:]
                assert time.time() < deadline, "app.py did not serve within 300 s"
                time.sleep(1)
        assert "travelbot" in page
        imported = subprocess.run([str(python), "-c", "import travelbot, sys; print(travelbot.__file__)"], cwd=folder,
                                  env=env, capture_output=True, text=True, check=True).stdout
        assert Path(imported.strip()).is_relative_to(folder)  # the Space's own copy, not this checkout
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
