"""A datamodule's cache is keyed by its class, its version and every constructor option but those that only serve
batches — so a plugin datamodule's own option keys its cache without a ``cache_key`` of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
from omegaconf import OmegaConf
from support.data import prepared

from seqlab.data import SeqDataModule
from seqlab.data.splits import split_by_seed
from seqlab.data.text import CharTextDataModule
from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.registry import DATAMODULES
from seqlab.spec import DataSpec


class RareCharsDataModule(SeqDataModule):
    """A plugin-style datamodule as docs/plugins.md has one write it: the lines of a text file as characters,
    those seen fewer than ``min_count`` times becoming ``<unk>`` — an option of its own, and no ``cache_key``."""

    name = "rare_chars"

    def __init__(self, source: str, min_count: int = 1, **kwargs: Any):
        super().__init__(source=source, **kwargs)
        self.min_count = min_count

    def build(self, out_dir: Path) -> None:
        lines = Path(self.source).read_text(encoding="utf-8").splitlines()
        vocab = Vocabulary.build([list(line) for line in lines], min_freq=self.min_count)
        rows = [{"ids": vocab.encode(list(line))} for line in lines]
        for split, part in split_by_seed(rows, (0.8, 0.1, 0.1), self.seed).items():
            self.write_split(out_dir, split, datasets.Dataset.from_list(part))
        self.write_spec(out_dir, DataSpec("language_model", vocab, Tokenizer("char")))


def corpus(tmp_path: Path) -> str:
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(f"line {i}: the quick brown fox jumps over the lazy dog" for i in range(40)) + "\n")
    return str(path)


def test_a_plugin_datamodules_own_option_changes_its_vocabulary_in_the_same_cache_dir(tmp_path):
    source, cache = corpus(tmp_path), tmp_path / "cache"
    every_char = prepared(RareCharsDataModule, cache, source=source, min_count=1)
    only_specials = prepared(RareCharsDataModule, cache, source=source, min_count=100000)
    assert every_char.cache_path != only_specials.cache_path
    assert len(every_char.spec.vocab) > 30 and len(only_specials.spec.vocab) == 4  # <pad> <unk> <bos> <eos>
    again = prepared(RareCharsDataModule, cache, source=source, min_count=1)  # the first cache, reused
    assert again.cache_path == every_char.cache_path and again.spec.vocab == every_char.spec.vocab


def test_options_that_only_serve_batches_share_a_cache_and_the_rest_do_not(tmp_path):
    source = corpus(tmp_path)
    base = RareCharsDataModule(source=source, cache_dir=str(tmp_path))
    served = RareCharsDataModule(source, batch_size=7, num_workers=2, bucket=False, cache_dir=str(tmp_path / "b"))
    assert served.cache_path.name == base.cache_path.name  # same key, even in another cache folder
    for other in ({"seed": 5}, {"strict": True}, {"min_count": 2}):
        assert RareCharsDataModule(source=source, cache_dir=str(tmp_path), **other).cache_path != base.cache_path


def test_the_class_and_its_version_are_part_of_the_identity(tmp_path):
    class Renamed(RareCharsDataModule):
        pass

    class Bumped(RareCharsDataModule):
        version = 2

    source = corpus(tmp_path)
    paths = {cls(source=source, cache_dir=str(tmp_path)).cache_path for cls in (RareCharsDataModule, Renamed, Bumped)}
    assert len(paths) == 3


def test_a_config_list_keys_the_cache_as_the_default_tuple_does(tmp_path):
    from_config = CharTextDataModule(split=OmegaConf.create([0.9, 0.05, 0.05]), cache_dir=str(tmp_path))
    assert from_config.cache_key() == CharTextDataModule(cache_dir=str(tmp_path)).cache_key()


def test_no_built_in_datamodule_writes_its_own_cache_key():
    built_in = [name for name in DATAMODULES.names() if DATAMODULES.owner(name) == "seqlab"]
    assert len(built_in) >= 8
    for name in built_in:
        assert DATAMODULES.get(name).cache_key is SeqDataModule.cache_key, name
