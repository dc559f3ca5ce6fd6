"""A wheel built from this repository, installed into a fresh venv, trains a packaged config by
name from a folder that is not a clone (``ur4rec train --config sasrec_ml100k``, one epoch: the
preset's name is what is tested, not its training).

No network: the wheel is built without build isolation (this environment's setuptools) and
installed with ``--no-deps``; the venv sees this environment's packages (torch, pandas, the text
stack) through a ``.pth`` line, which does not run their ``.pth`` files — so this checkout's
editable install stays out and ``import ur4rec`` is the wheel's copy.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, text=True,
                          capture_output=True)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def build_wheel(folder: Path, env: dict[str, str]) -> Path:
    """The wheel, built from a copy of the tracked tree (the build writes into the tree it
    builds: this checkout stays as it is)."""
    tracked = run("git", "ls-files", "-z", cwd=REPO).split("\0")
    source = folder / "source"
    for name in filter(None, tracked):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_symlink():
            target.symlink_to(os.readlink(REPO / name))
        else:
            shutil.copy2(REPO / name, target)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
        "--wheel-dir", folder / "wheel", source, cwd=folder, env=env)
    (wheel,) = (folder / "wheel").glob("ur4rec-*.whl")
    return wheel


def fresh_venv(folder: Path, wheel: Path, env: dict[str, str]) -> Path:
    """A venv holding the wheel, seeing this environment's third-party packages."""
    run(sys.executable, "-m", "venv", "--without-pip", folder, cwd=folder.parent)
    python = folder / "bin" / "python"
    venv_site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                         cwd=folder).strip())
    outer = dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"],
                           sysconfig.get_paths()["platlib"]])
    (venv_site / "outer_packages.pth").write_text("\n".join(outer) + "\n", encoding="utf-8")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--quiet", wheel, cwd=folder, env=env)
    return folder


@pytest.mark.slow
def test_an_installed_wheel_trains_a_packaged_config_by_name(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    wheel = build_wheel(tmp_path, env)
    names = zipfile.ZipFile(wheel).namelist()
    assert "ur4rec/configs/ur4rec_ml100k.yaml" in names
    assert "ur4rec/text/prompts/user_preference.txt" in names
    assert not [name for name in names if "fake_openai" in name or name.startswith("tests/")]

    venv = fresh_venv(tmp_path / "venv", wheel, env)
    elsewhere = tmp_path / "elsewhere"  # no configs/ folder here: names resolve in the package
    elsewhere.mkdir()
    where = run(venv / "bin" / "python", "-c", "import ur4rec; print(ur4rec.__file__)",
                cwd=elsewhere, env=env)
    assert Path(where.strip()).is_relative_to(venv)
    assert "ur4rec_ml100k" in run(venv / "bin" / "ur4rec", "configs", cwd=elsewhere, env=env)
    run(venv / "bin" / "ur4rec", "--quiet", "train", "--config", "sasrec_ml100k",
        "--output_dir", "run", "--epochs_per_stage", "1", cwd=elsewhere, env=env)
    results = json.loads((elsewhere / "run" / "results.json").read_text(encoding="utf-8"))
    assert results["name"] == "sasrec_ml100k" and results["dataset"]["name"] == "ml-100k"
