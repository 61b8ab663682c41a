"""The reverse_digits plugin datamodule: examples, which targets are scored, split hygiene, and bad options."""

import pytest
from seqlab_reverse_digits import NOT_SCORED, ReverseDigitsDataModule

from seqlab.data import DataError
from seqlab.registry import DATAMODULES


@pytest.fixture
def datamodule(tmp_path):
    dm = ReverseDigitsDataModule(min_digits=2, max_digits=5, num_train=64, num_val=16, num_test=16, cache_dir=tmp_path)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_reverse_digits_is_registered_under_its_option_name():
    assert DATAMODULES.get("reverse_digits") is ReverseDigitsDataModule


def test_each_example_is_digits_then_their_reversal(datamodule):
    spec = datamodule.spec
    for example in datamodule.splits["train"]:
        text = spec.decode(example["ids"].tolist())
        digits, answer = text.split("=")
        assert digits.isdigit() and answer == digits[::-1] and len(digits) == example["digits"]


def test_only_the_answer_and_eos_are_scored(datamodule):
    spec = datamodule.spec
    batch = datamodule.collate([datamodule.splits["train"][i] for i in range(8)])
    for inputs, targets, length in zip(batch["inputs"], batch["targets"], batch["lengths"]):
        scored = targets[targets != NOT_SCORED].tolist()
        text = spec.decode(inputs[:length].tolist())
        digits, answer = text.split("=")
        assert spec.decode(scored) == answer == digits[::-1]
        assert scored[-1] == spec.vocab.eos_id
        assert all(t == NOT_SCORED for t in targets[length:].tolist())


def test_validation_and_test_strings_never_occur_in_training(datamodule):
    def strings(split):
        return {datamodule.spec.decode(e["ids"].tolist()) for e in datamodule.splits[split]}

    assert not strings("train") & (strings("validation") | strings("test"))


def test_too_many_held_out_strings_for_the_digit_range_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="data.num_val"):
        ReverseDigitsDataModule(min_digits=1, max_digits=1, num_val=20, num_test=20, cache_dir=tmp_path)
