"""Fuzzing: random bytes fed to every datamodule and to the generate command give a clear error, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from seqlab import schema
from seqlab.errors import DataError
from seqlab.run.compose import compose_config
from seqlab.run.train import build_datamodule

#: each datamodule with a file suffix it reads
DATAMODULES = {"text_char": ".txt", "text_word": ".txt", "abc_music": ".abc", "tweets": ".csv", "parallel": ".tsv",
               "tagging": ".conllu"}
FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# printable-ish noise and raw bytes: both must be handled
NOISE = st.one_of(st.binary(max_size=400), st.text(max_size=400).map(lambda s: s.encode("utf-8", "surrogatepass")))


def data_options(name: str) -> dict:
    overrides = [f"data={name}", "paths.cache_dir=/unused", "paths.output_dir=/unused"]
    return OmegaConf.to_container(compose_config(overrides).data, resolve=True)


@pytest.mark.parametrize("name", [n for n in DATAMODULES if n in schema.names("data")])
def test_random_bytes_never_crash_a_datamodule(name):
    options = data_options(name)

    @FUZZ
    @given(NOISE)
    def feed(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / f"input{DATAMODULES[name]}"
            source.write_bytes(data)
            dm = build_datamodule({**options, "source": str(source), "cache_dir": str(Path(tmp) / "cache")})
            try:
                dm.prepare_data()
                dm.setup("fit")
            except DataError as err:
                message = str(err)
                assert message and "\n" not in message
                assert not any(p.name.startswith(".") for p in (Path(tmp) / "cache").glob("*")), "half-built cache"
                return
            assert dm.spec.vocab_size >= 4  # it accepted the bytes: then it built a usable dataset

    feed()


@FUZZ
@given(NOISE)
def test_random_bytes_as_a_checkpoint_give_one_line(data: bytes):
    import contextlib
    import io

    from seqlab.generate import main

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "model.ckpt"
        ckpt.write_bytes(data)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_info:
            main([f"ckpt_path={ckpt}", "max_length=5"])
        assert exit_info.value.code == 1
        lines = stderr.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("seqlab: error: ckpt_path=") and "Traceback" not in lines[0]
