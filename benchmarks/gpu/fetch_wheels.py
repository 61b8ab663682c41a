"""Download, here, the wheels the GPU machine lacks, so that ``benchmarks/gpu/check.sh`` installs them offline.

The GPU machine (Python 3.12, x86-64, no network) already holds torch, Lightning, torchmetrics, tensorboard,
numpy, pandas, pyarrow, matplotlib, tokenizers and many more (``ON_MACHINE`` below). This script walks seqlab's
runtime requirements (``pyproject.toml``) through the package metadata of this environment, stops at every
package the machine has, and downloads each missing one at the version installed here (so the GPU run uses the
versions the CPU suite passed with), as a Python 3.12 manylinux x86-64 wheel, with ``--no-deps``:

    .venv/bin/python benchmarks/gpu/fetch_wheels.py            # → benchmarks/gpu/wheels/ (git-ignored)

It also writes ``wheels/manifest.json``: the wheels, their total size, and the requirements that the missing
packages place on packages the machine already has (e.g. ``pyarrow>=24``), which ``check.sh`` verifies there
before anything runs. Left out on purpose: the Hydra sweeper/launcher plugins (optuna, joblib, submitit), which
seqlab never imports and the check does not use. Added: hatchling, the build backend that installs seqlab itself.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import json
import subprocess
import sys
from pathlib import Path

import tomllib
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
WHEELS = Path(__file__).resolve().parent / "wheels"

#: The GPU machine's Python packages, as /work/.library/device/KINDS.md lists them ("Python packages already
#: there", read on the machine on 2026-11-17). A package named here is never carried.
ON_MACHINE = """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy
peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout
pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core
scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six
sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile
tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm
transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel
wrapt xarray xxhash yarl zipp
""".split()

#: seqlab requirements the check never imports (Hydra plugins, picked only by hydra/launcher=… or hparams_search=…)
NOT_NEEDED = {"hydra-optuna-sweeper", "hydra-joblib-launcher", "hydra-submitit-launcher"}
#: installs seqlab itself there (pip install --no-build-isolation needs its build backend present)
BUILD = ["hatchling"]
#: the machine: CPython 3.12 on x86-64 Linux (markers are evaluated for it, not for this interpreter)
TARGET = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
#: pip matches each manylinux tag exactly: name the ones wheels are commonly published under
PLATFORMS = [
    "manylinux2014_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_31_x86_64",
    "manylinux_2_34_x86_64",
    "manylinux1_x86_64",
]


def applies(requirement: Requirement) -> bool:
    """Whether a requirement holds on the machine (its marker evaluated for CPython 3.12 on Linux, no extras)."""
    return requirement.marker is None or Marker(str(requirement.marker)).evaluate(TARGET)


def missing_packages(roots: list[Requirement]) -> tuple[dict[str, str], list[str]]:
    """Walk the requirements from ``roots`` through this environment's metadata. Returns the packages to carry
    (canonical name → version installed here) and the requirements they place on packages the machine has."""
    machine = {canonicalize_name(n) for n in ON_MACHINE}
    carry: dict[str, str] = {}
    on_machine_needs: set[str] = set()
    todo = list(roots)
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if not applies(requirement) or name in NOT_NEEDED or name in carry:
            continue
        if name in machine:
            if requirement.specifier:
                on_machine_needs.add(f"{name}{requirement.specifier}")
            continue
        try:
            carry[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(
                f"seqlab: error: {name}: required by seqlab's dependencies but not installed here; "
                "install seqlab's dependencies into this environment first"
            ) from None
        todo += [Requirement(r) for r in metadata.requires(name) or []]
    return carry, sorted(on_machine_needs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=WHEELS, help="wheel folder (default: benchmarks/gpu/wheels)")
    parser.add_argument("--list", action="store_true", help="print what would be downloaded and stop")
    args = parser.parse_args(argv)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    roots = [Requirement(r) for r in [*project["dependencies"], *BUILD]]
    carry, needs = missing_packages(roots)
    pins = [f"{name}=={version}" for name, version in sorted(carry.items())]
    print("carry: " + " ".join(pins))
    print("the machine's packages must satisfy: " + " ".join(needs))
    if args.list:
        return
    args.dest.mkdir(parents=True, exist_ok=True)
    for old in args.dest.glob("*.whl"):  # one version of each: two would stop the install there
        old.unlink()
    platforms = [flag for p in PLATFORMS for flag in ("--platform", p)]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    for pin in pins:
        binary = [
            *pip,
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            *platforms,
            "-d",
            str(args.dest),
            pin,
        ]
        if subprocess.run(binary, capture_output=True, text=True).returncode == 0:
            continue
        # no wheel published (antlr4-python3-runtime 4.9.3 is a source archive only): build one here, and accept it
        # only if it is pure Python ("none-any"), since a compiled one would be for this interpreter, not 3.12
        before = set(args.dest.glob("*.whl"))
        subprocess.run([*pip, "wheel", "--no-deps", "-w", str(args.dest), pin], check=True)
        built = set(args.dest.glob("*.whl")) - before
        if not all(w.name.endswith("-none-any.whl") for w in built):
            raise SystemExit(
                f"seqlab: error: {pin}: no Python 3.12 manylinux wheel, and the one built here is not pure Python"
            )
    wheels = sorted(args.dest.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels)
    manifest = {
        "wheels": [w.name for w in wheels],
        "bytes": size,
        "carry": pins,
        "machine_must_satisfy": needs,
        "python": "3.12",
        "platforms": PLATFORMS,
    }
    (args.dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{len(wheels)} wheels, {size / 2**20:.1f} MiB in {args.dest}")
    if size > 60 * 2**20:
        print("warning: over 60 MiB: the device tool carries at most 64 MiB with the working tree", file=sys.stderr)


if __name__ == "__main__":
    main()
