"""The wheel carries the Hydra configs: a non-editable install trains from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest
from support.runs import REPO, TINY, cli_env, run_dirs


@pytest.mark.e2e
def test_wheel_ships_configs_and_trains_from_another_folder(tmp_path, cache_dir):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = wheels.glob("seqlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "seqlab/conf/train.yaml" in names and "seqlab/conf/experiment/char_rnn.yaml" in names

    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**cli_env(cache_dir), "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import seqlab.paths as c; print(c.conf_dir())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True)
    assert where.stdout.strip() == os.path.join(site, "seqlab", "conf"), where.stderr
    run = subprocess.run([sys.executable, "-m", "seqlab", *TINY], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run_dirs(elsewhere, "char_rnn")
