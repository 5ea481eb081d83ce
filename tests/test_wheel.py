"""The built wheel works outside the checkout: ``aesdata build demo`` and ``aesdata train sft`` by name.

The wheel is built from this checkout and installed (``--no-deps``) into a fresh venv in a temp folder;
to stay fast the venv sees the dependencies of the project's venv through a ``.pth`` file, but not the
checkout (no ``PYTHONPATH``; the project venv's editable aesdata is never activated there). The shipped
pipelines, filters, recipes and the demo corpus must therefore come from the installed package data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.test_train import tiny_model  # noqa: F401  (fixture: a tiny Qwen2 built here)

REPO = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(COLUMNS="200", OMP_NUM_THREADS="1")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel of this checkout (dependencies seen through a .pth file)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy, so the build leaves no build/ folder in the checkout
    shutil.copytree(
        REPO / "aesdata", src / "aesdata", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    pip_wheel = ["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp), str(src)]
    built = _run([sys.executable, *pip_wheel], cwd=tmp)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp.glob("aesdata-*.whl")
    env = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = Path(
        _run(
            [str(env / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            tmp,
        ).stdout.strip()
    )
    (site / "_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = _run(
        [
            str(env / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--ignore-installed",
            "-q",
            str(wheel),
        ],
        cwd=tmp,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    return env


@pytest.mark.slow
def test_installed_wheel_builds_the_demo_and_trains_by_name(
    venv: Path,
    tiny_model: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    py = str(venv / "bin" / "python")
    where = _run([py, "-c", "import aesdata; print(aesdata.__file__)"], tmp_path).stdout.strip()
    assert where.startswith(str(venv)), where  # the installed package, not the checkout
    build = _run([py, "-m", "aesdata", "build", "demo", "--limit", "8"], tmp_path)
    assert build.returncode == 0, build.stderr[-3000:]
    manifest = json.loads((tmp_path / "runs" / "demo" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["pipeline"]["path"].startswith(str(venv))
    assert (tmp_path / "runs" / "demo" / "dataset" / "data").is_dir()
    # the shipped sft recipe, found by name; its dataset path (runs/demo/dataset) is relative to the cwd
    train = _run(
        [py, "-m", "aesdata", "train", "sft", "--model", str(tiny_model), "--max-steps", "1"], tmp_path
    )
    assert train.returncode == 0, train.stderr[-3000:]
    record = json.loads((tmp_path / "checkpoints" / "sft" / "aesdata_train.json").read_text())
    assert record["global_step"] == 1
    assert record["recipe"]["path"].startswith(str(venv))
