"""Plugins end to end: installed example packages and a local plugins/ folder, trained through the real CLI
(one process and DDP), listed, recorded in checkpoints, and contained when broken or colliding."""

from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support.runs import REPO, TINY, cli_env, run_dirs

from seqlab.errors import ConfigError
from seqlab.registry import CELLS, registering_as

EXAMPLES = ("seqlab-mgu", "seqlab-reverse-digits")
#: the reverse_digits datamodule, small enough to build in a moment
SMALL_DIGITS = ["data=reverse_digits", "data.num_train=256", "data.num_val=32", "data.num_test=32"]


@pytest.fixture(scope="session")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    """Both example plugins pip-installed (wheels built offline) into a private folder, put on PYTHONPATH of the
    runs that should see them; the project's venv stays untouched."""
    root = tmp_path_factory.mktemp("plugin-install")
    sources = []
    for name in EXAMPLES:  # built from copies, so the build leaves nothing in the repository
        shutil.copytree(REPO / "plugins" / name, root / name, ignore=shutil.ignore_patterns("tests", "__pycache__"))
        sources.append(str(root / name))
    site = root / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site)]
        + sources,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    return {"PYTHONPATH": str(site)}


def checkpoint_plugins(run: Path) -> list[dict]:
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return checkpoint["seqlab"]["plugins"]


MGU = {"plugin": "mgu", "package": "seqlab-mgu", "version": "0.1.0", "provides": {"cell": "mgu"}}
REVERSE_DIGITS = {
    "plugin": "reverse_digits",
    "package": "seqlab-reverse-digits",
    "version": "0.1.0",
    "provides": {"datamodule": "reverse_digits"},
}


# -- installed packages ---------------------------------------------------------------------------------------------
def test_listing_names_each_plugin_its_version_and_what_it_adds(run_seqlab, plugin_env):
    listing = run_seqlab("plugins", env=plugin_env)
    assert listing.returncode == 0, listing.stderr[-2000:]
    assert listing.stdout.splitlines() == [
        "mgu  [seqlab-mgu 0.1.0]",
        "  cells: mgu",
        "  config options: cell/mgu",
        "reverse_digits  [seqlab-reverse-digits 0.1.0]",
        "  datamodules: reverse_digits",
        "  config options: data/reverse_digits, experiment/reverse_digits",
    ]


def test_installed_plugins_train_from_the_cli_and_the_checkpoint_names_their_packages(run_seqlab, plugin_env, tmp_path):
    result = run_seqlab("cell=mgu", *SMALL_DIGITS, *TINY, env=plugin_env)
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = run_dirs(tmp_path, "char_rnn")
    assert checkpoint_plugins(run) == [MGU, REVERSE_DIGITS]
    ckpt = f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}"

    sampled = run_seqlab(ckpt, "prompt=12=", "num_samples=1", "max_length=5", module="seqlab.generate", env=plugin_env)
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    assert re.search(r"^12=[0-9=]*$", sampled.stdout, re.MULTILINE), sampled.stdout

    without = run_seqlab(ckpt, module="seqlab.generate")  # the plugin packages are not installed here
    assert without.returncode == 1
    assert without.stderr.strip().splitlines() == [
        f"seqlab: error: {ckpt}: needs cell 'mgu' from plugin 'mgu'; install it: pip install seqlab-mgu==0.1.0"
    ]


@pytest.mark.slow  # two spawned processes: ~25 s of CPU
def test_ddp_cpu_trains_a_plugin_cell_in_two_processes(run_seqlab, plugin_env, tmp_path):
    result = run_seqlab("trainer=ddp_cpu", "cell=mgu", *SMALL_DIGITS, *TINY, "test=false", env=plugin_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Starting with 2 processes" in result.stdout + result.stderr
    [run] = run_dirs(tmp_path, "char_rnn")
    assert checkpoint_plugins(run) == [MGU, REVERSE_DIGITS]


def test_example_plugins_pass_their_own_tests(plugin_env):
    suites = [str(REPO / "plugins" / name / "tests") for name in EXAMPLES]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *suites],
        cwd=REPO / "plugins",
        env={**os.environ, **plugin_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "10 passed" in result.stdout


# -- a local plugins/ folder ----------------------------------------------------------------------------------------
def documented_plugin_files(name: str) -> dict[str, str]:
    """The files docs/plugins.md tells a reader to create for plugin ``name``: a `plugins/...` path line, then a
    fenced block (``plugins/<name>.py`` and ``plugins/conf/<group>/<name>.yaml``)."""
    text = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    files = dict(re.findall(r"^`(plugins/[^`]+)`[^\n]*:\n\n```\w*\n(.*?)```", text, re.MULTILINE | re.DOTALL))
    mine = {path: body for path, body in files.items() if Path(path).stem == name}
    assert len(mine) == 2 and f"plugins/{name}.py" in mine, sorted(files)
    return mine


BROKEN_NEIGHBOURS = {
    "plugins/broken.py": "import not_a_real_module_xyz  # noqa: F401\n",
    "plugins/clash.py": (
        "from seqlab.cells import LSTMCell\nfrom seqlab.registry import CELLS\n\n"
        "CELLS.register('clash_gru', LSTMCell)\nCELLS.register('lstm', type('MyLSTM', (LSTMCell,), {}))\n"
    ),
    "plugins/shadow/__init__.py": "from seqlab.cells import GRUCell\nfrom seqlab.registry import CELLS\n\n"
    "CELLS.register('shadow_gru', GRUCell)\n",
    "plugins/shadow/conf/cell/lstm.yaml": "# @package model.cell\nname: shadow_gru\n",
    "plugins/shadow/conf/cell/shadow_gru.yaml": "# @package model.cell\nname: shadow_gru\n",
    "plugins/unpackaged/__init__.py": "",
    "plugins/unpackaged/conf/cell/unpackaged.yaml": "# a comment first: Hydra no longer reads the header\n"
    "# @package model.cell\nname: gru\n",
}
#: (plugin, where it is, why it is skipped) for each of BROKEN_NEIGHBOURS, in load order
FAILURES = [
    (
        "broken",
        "./plugins/broken.py",
        "ModuleNotFoundError: No module named 'not_a_real_module_xyz' (./plugins/broken.py:1)",
    ),
    (
        "clash",
        "./plugins/clash.py",
        "cell 'lstm' from clash collides with the cell 'lstm' of seqlab; rename one of them",
    ),
    (
        "shadow",
        "./plugins/shadow",
        "config cell/lstm.yaml of plugin 'shadow' collides with cell/lstm of seqlab; rename one of them",
    ),
    (
        "unpackaged",
        "./plugins/unpackaged",
        "config cell/unpackaged.yaml of plugin 'unpackaged' must start with '# @package model.cell', as seqlab's "
        "cell options do",
    ),
]


def write_files(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")


def test_documented_local_plugin_trains_while_broken_neighbours_are_reported_once_and_skipped(run_seqlab, tmp_path):
    documented = documented_plugin_files("janet")
    assert sum(len(text.splitlines()) for text in documented.values()) < 30
    write_files(tmp_path, {**documented, **BROKEN_NEIGHBOURS})

    result = run_seqlab("cell=janet", "model.encoder.num_layers=2", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    seqlab_lines = [line for line in result.stderr.splitlines() if line.startswith("seqlab:")]
    assert seqlab_lines == [
        f"seqlab: plugin '{name}' ({origin}) failed to load and is skipped: {error}" for name, origin, error in FAILURES
    ]
    [run] = run_dirs(tmp_path, "char_rnn")
    assert checkpoint_plugins(run) == [
        {"plugin": "janet", "package": "./plugins/janet.py", "version": "local", "provides": {"cell": "janet"}}
    ]


def test_choosing_an_option_of_a_refused_plugin_names_the_plugin_and_why(run_seqlab, tmp_path):
    write_files(tmp_path, BROKEN_NEIGHBOURS)
    result = run_seqlab("cell=shadow_gru", *TINY)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "seqlab: error: cell=shadow_gru: plugin 'shadow' (./plugins/shadow) failed to load: config cell/lstm.yaml "
        "of plugin 'shadow' collides with cell/lstm of seqlab; rename one of them"
    )

    listing = run_seqlab(module="seqlab.plugins")
    assert listing.returncode == 1 and listing.stderr == ""  # non-zero: scripts and CI notice a broken plugin
    assert listing.stdout.splitlines() == [f"{name}  [{origin}]  FAILED: {error}" for name, origin, error in FAILURES]


# -- the registry's side --------------------------------------------------------------------------------------------
def test_registrations_inside_a_plugin_belong_to_it_and_vanish_if_it_fails():
    class Probe(CELLS.get("gru")):
        pass

    with pytest.raises(RuntimeError), registering_as("probe_plugin"):
        CELLS.register("probe_cell", Probe)
        assert CELLS.owner("probe_cell") == "probe_plugin"
        raise RuntimeError("the rest of the plugin's import failed")
    assert "probe_cell" not in CELLS


def test_a_plugin_taking_a_built_in_name_is_refused_naming_both_owners():
    with pytest.raises(ConfigError, match="cell 'gru' from probe_plugin collides with the cell 'gru' of seqlab"):
        with registering_as("probe_plugin"):
            CELLS.register("gru", type("OtherGRU", (CELLS.get("gru"),), {}))
    assert CELLS.owner("gru") == "seqlab"


def test_documented_head_plugin_trains_and_logs_the_loss_the_checkpoint_monitors(run_seqlab, tmp_path):
    """The head of docs/plugins.md defines only predict and loss: seqlab still logs val/loss and test/loss."""
    write_files(tmp_path, documented_plugin_files("mean_pool"))
    result = run_seqlab("data=tweets", "head=mean_pool", "data.num_examples=200", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = run_dirs(tmp_path, "char_rnn")
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"val/loss", "test/loss"} <= set(metrics)
    assert checkpoint_plugins(run)[0]["provides"] == {"head": "mean_pool"}


def test_a_typo_in_a_plugin_config_is_refused_before_any_data_is_prepared(run_seqlab, tmp_path):
    files = documented_plugin_files("janet")
    files["plugins/conf/cell/janet.yaml"] = files["plugins/conf/cell/janet.yaml"].replace("beta:", "betta:")
    write_files(tmp_path, files)
    result = run_seqlab("cell=janet", *TINY)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "seqlab: error: cell=janet: config folder ./plugins/conf is skipped: config cell/janet.yaml of the local "
        "folder ./plugins/conf: 'betta' is not an option of JANETCell (its options: beta)"
    )
    assert not (tmp_path / "outputs" / "char_rnn").exists()  # no stub run folder, nothing prepared


@pytest.mark.e2e
def test_plugin_listing_survives_a_reader_that_closes_the_pipe(tmp_path, cache_dir):
    write_files(tmp_path, BROKEN_NEIGHBOURS)
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `seqlab plugins | head -0`: every write fails with EPIPE
    try:
        result = subprocess.run(
            [sys.executable, "-m", "seqlab.plugins"], cwd=tmp_path, env=cli_env(cache_dir), stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=120,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 1  # the broken neighbours still count


@pytest.mark.e2e
def test_load_plugins_makes_a_local_cell_usable_from_a_plain_script(tmp_path, cache_dir):
    write_files(tmp_path, documented_plugin_files("janet"))
    script = (
        "import torch, seqlab\n"
        "from seqlab.cells import Recurrent\n"
        "seqlab.load_plugins()\n"
        "out, _ = Recurrent('janet', input_size=3, hidden_size=5)(torch.zeros(2, 4, 3))\n"
        "print(tuple(out.shape))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=cli_env(cache_dir), capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "(2, 4, 5)"


# -- a plugin encoder -----------------------------------------------------------------------------------------------
RUNNING_MEAN = {
    "plugins/running_mean.py": '''import torch

from seqlab.encoders import Encoder
from seqlab.registry import ENCODERS


@ENCODERS.register("running_mean")
class RunningMeanEncoder(Encoder):
    """Step t: tanh of a linear map of the mean of the inputs up to t (causal, order-free within the prefix)."""

    def __init__(self, input_size, causal, num_states=1, hidden_size=16):
        super().__init__(causal, num_states)
        self.output_size = hidden_size
        self.proj = torch.nn.Linear(input_size, hidden_size)

    def encode(self, x, mask, lengths, context):
        steps = torch.arange(1, x.shape[1] + 1, device=x.device)[None, :, None]
        return torch.tanh(self.proj(x.cumsum(1) / steps)), None
''',
    "plugins/conf/encoder/running_mean.yaml": "# @package model.encoder\nname: running_mean\nhidden_size: 16\n",
}


def test_a_plugin_encoder_is_listed_trains_and_is_recorded_in_the_checkpoint(run_seqlab, tmp_path):
    write_files(tmp_path / "with", RUNNING_MEAN)
    listing = run_seqlab("plugins", cwd=tmp_path / "with")
    assert listing.returncode == 0, listing.stderr[-2000:]
    assert listing.stdout.splitlines() == [
        "running_mean  [./plugins/running_mean.py]",
        "  encoders: running_mean",
        "./plugins/conf  config options: encoder/running_mean",
    ]

    result = run_seqlab("encoder=running_mean", *TINY, cwd=tmp_path / "with")
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = run_dirs(tmp_path / "with", "char_rnn")
    assert checkpoint_plugins(run) == [
        {
            "plugin": "running_mean",
            "package": "./plugins/running_mean.py",
            "version": "local",
            "provides": {"encoder": "running_mean"},
        }
    ]

    (tmp_path / "without").mkdir()  # the checkpoint alone, where the plugin is not: one line naming what is missing
    ckpt = f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}"
    sampled = run_seqlab(ckpt, "num_samples=1", "max_length=5", module="seqlab.generate", cwd=tmp_path / "without")
    assert sampled.returncode == 1
    assert sampled.stderr.strip().splitlines() == [
        f"seqlab: error: {ckpt}: needs encoder 'running_mean' from plugin 'running_mean', a local plugin "
        "(running_mean.py, in the plugins/ folder of the run that saved it); copy running_mean.py into ./plugins/ here"
    ]


def test_documented_datamodule_plugin_trains_from_a_csv_through_the_cli(run_seqlab, tmp_path):
    """The datamodule of docs/plugins.md, copied as a reader would, trains on a CSV and writes data_splits.json."""
    files = documented_plugin_files("motifs")
    assert len(files["plugins/motifs.py"].splitlines()) <= 40
    write_files(tmp_path, files)
    rng = random.Random(0)
    rows = ["sequence,label"]
    for _ in range(300):
        read = "".join(rng.choice("ACGT") for _ in range(rng.randint(8, 20)))
        if rng.random() < 0.5:
            rows.append(f"{read[:4]}TATA{read[4:]},tata")
        else:
            rows.append(f"{read.replace('TATA', 'TAGA')},none")
    (tmp_path / "reads.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_seqlab("data=motifs", "data.source=reads.csv", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = run_dirs(tmp_path, "char_rnn")
    assert "val/accuracy" in json.loads((run / "metrics.json").read_text())
    splits = json.loads((run / "data_splits.json").read_text())
    assert splits["train"] + splits["val"] + splits["test"] == 300 and splits["val_overlap"] == 0.0

    # the datamodule's own option, in the same cache folder: a cache of its own, with its own vocabulary
    codons = run_seqlab("data=motifs", "data.source=reads.csv", "data.k=3", *TINY)
    assert codons.returncode == 0, codons.stderr[-3000:]
    first, second = run_dirs(tmp_path, "char_rnn")
    sizes = [len(json.loads((r / "vocab.json").read_text())["itos"]) for r in (first, second)]
    assert sizes[1] - sizes[0] == 64 - 4


#: a typo or a bad value in each config group, and the start of the one line it must give
BAD_INPUTS = [
    ("cell=lstmm", "seqlab: error: cell=lstmm: no such option in config group 'cell'"),
    ("trainer.max_step=10", "seqlab: error: trainer.max_step: the Trainer has no option 'max_step' (did you mean "
                            "max_steps?)"),
    ("+trainer.max_step=10", "seqlab: error: trainer.max_step: the Trainer has no option 'max_step' (did you mean "
                             "max_steps?)"),
    ("head=many_to_one model.head.dropout=lots", "seqlab: error: model.head.dropout='lots': expected a number >= 0"),
    ("callbacks.samples.temprature=0.5", "seqlab: error: callbacks.samples.temprature: callbacks.samples has no "
                                         "option 'temprature' (did you mean temperature?)"),
    ("+callbacks.samples.temprature=0.5", "seqlab: error: callbacks.samples.temprature: callback 'samples' has no "
                                          "option 'temprature' (did you mean temperature?)"),
    ("+data.min_freqq=2", "seqlab: error: data.min_freqq: data 'text_char' has no option 'min_freqq' (did you mean "
                          "min_freq?)"),
    ("optimizer=sgd optimizer.momentum=1.5", "seqlab: error: optimizer.momentum=1.5: expected a number >= 0 and < 1"),
    ("cell=mgu +model.cell.forget_bais=1", "seqlab: error: model.cell.forget_bais: cell 'mgu' has no option"),
]


@pytest.mark.e2e
@pytest.mark.parametrize(("override", "line"), BAD_INPUTS, ids=[o for o, _ in BAD_INPUTS])
def test_every_group_refuses_a_bad_input_before_torch_with_plugins_installed(plugin_env, tmp_path, override, line):
    """In a fresh interpreter with both example plugins installed: one line, exit 2, no run folder, torch and the
    plugins never imported (python -X importtime lists every module imported). Its wall time is measured by
    benchmarks/preflight.py on a quiet machine, not here (a timed test fails on a busy one)."""
    env = {**cli_env(tmp_path / "cache"), **plugin_env}
    command = [sys.executable, "-X", "importtime", "-m", "seqlab", *override.split()]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    errors = [x for x in result.stderr.splitlines() if not x.startswith("import time:")]
    assert result.returncode == 2 and len(errors) == 1 and errors[0].startswith(line), result.stderr[-2000:]
    imported = {x.rsplit("|", 1)[-1].strip() for x in result.stderr.splitlines() if x.startswith("import time:")}
    assert "torch" not in imported and "seqlab_mgu" not in imported
    assert not (tmp_path / "outputs").exists()


def test_documented_callback_plugin_is_added_to_the_default_set_and_its_options_are_checked(run_seqlab, tmp_path):
    files = documented_plugin_files("weight_norm")
    assert len(files["plugins/weight_norm.py"].splitlines()) <= 40
    write_files(tmp_path, files)
    typo = run_seqlab("callbacks=[default,weight_norm]", "callbacks.weight_norm.every_n_step=1", *TINY)
    assert typo.returncode == 2 and "(did you mean every_n_steps?)" in typo.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "outputs").exists()

    result = run_seqlab("callbacks=[default,weight_norm]", "callbacks.weight_norm.every_n_steps=1", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = run_dirs(tmp_path, "char_rnn")
    rows = [r for r in csv.DictReader((run / "csv" / "metrics.csv").open()) if r.get("train/weight_norm")]
    assert [int(r["step"]) for r in rows] == [1, 2, 3]  # once per step, at the step it was measured
    assert all(float(r["train/weight_norm"]) > 0 for r in rows)
