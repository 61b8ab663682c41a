"""seqlab plugin: the ``reverse_digits`` datamodule, selectable with ``python -m seqlab data=reverse_digits``.

Installing this package is all it takes: its entry point (group ``seqlab.plugins``) makes seqlab import this
module, which registers the datamodule; ``conf/data/reverse_digits.yaml`` and ``conf/experiment/reverse_digits.yaml``
become the ``data=reverse_digits`` and ``+experiment=reverse_digits`` options.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch

from seqlab.data import DataError, DataSpec, SeqDataModule
from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary
from seqlab.registry import DATAMODULES

__version__ = "0.1.0"

#: target id that the loss and the metrics skip (the many-to-many head's ignore index)
NOT_SCORED = -100
DIGITS = "0123456789"


class ReverseDigitsDataModule(SeqDataModule):
    """Reverse a string of digits: read ``3141=``, write ``1413`` — a synthetic task that needs memory.

    Each example is ``min_digits``–``max_digits`` random digits, written ``<bos>3141=1413<eos>`` and trained as a
    character language model (task ``language_model``, head ``many_to_many``) whose loss scores only the answer
    and ``<eos>``: the digits before ``=`` are random and cannot be predicted. Validation and test strings never
    occur in training. Ask a trained model with a prompt: ``python -m seqlab.generate ckpt_path=... prompt=3141=``.

    Batches: ``inputs (B, T)`` (``<bos>`` + text, padded), ``targets (B, T)`` (the next token where scored,
    ``-100`` elsewhere), ``lengths (B,)``.

    >>> import tempfile
    >>> dm = ReverseDigitsDataModule(num_train=8, num_val=2, num_test=2, batch_size=4, cache_dir=tempfile.mkdtemp())
    >>> batch = next(iter(dm.train_dataloader()))
    >>> tuple(batch["inputs"].shape) == tuple(batch["targets"].shape), batch["lengths"].shape
    (True, torch.Size([4]))
    """

    name = "reverse_digits"

    def __init__(
        self,
        min_digits: int = 2,
        max_digits: int = 8,
        num_train: int = 20000,
        num_val: int = 500,
        num_test: int = 500,
        **kwargs: Any,
    ):
        super().__init__(source="generated", **kwargs)
        if not 1 <= min_digits <= max_digits:
            raise DataError(
                f"data.min_digits and data.max_digits must satisfy 1 <= min <= max, got {min_digits}, {max_digits}"
            )
        if min(num_train, num_val, num_test) < 1:
            raise DataError(f"data.num_train/num_val/num_test must be at least 1, got {num_train}/{num_val}/{num_test}")
        possible = sum(10**n for n in range(min_digits, max_digits + 1))
        if num_val + num_test > possible // 2:
            raise DataError(
                f"data.num_val + data.num_test = {num_val + num_test} is too many: there are only {possible} strings "
                f"of {min_digits}-{max_digits} digits; raise data.max_digits"
            )
        self.min_digits, self.max_digits = min_digits, max_digits
        self.sizes = {"train": num_train, "validation": num_val, "test": num_test}

    def cache_key(self) -> dict[str, Any]:
        return {"datamodule": self.name, "seed": self.seed, "digits": [self.min_digits, self.max_digits], **self.sizes}

    def build(self, out_dir: Path) -> None:
        import datasets

        vocab = Vocabulary([*SPECIALS, *DIGITS, "="])
        rng = random.Random(self.seed)
        seen: set[str] = set()
        for split, size in self.sizes.items():
            strings = [self._draw(rng, avoid=seen if split != "train" else set()) for _ in range(size)]
            seen.update(strings)
            ids = [[vocab.bos_id, *vocab.encode(f"{s}={s[::-1]}"), vocab.eos_id] for s in strings]
            datasets.Dataset.from_dict({"ids": ids, "digits": [len(s) for s in strings]}).save_to_disk(
                str(out_dir / split)
            )
        spec = DataSpec(task="language_model", vocab=vocab, tokenizer=Tokenizer("char"))
        (out_dir / "spec.json").write_text(json.dumps(spec.to_dict()))

    def _draw(self, rng: random.Random, avoid: set[str]) -> str:
        while True:
            digits = "".join(rng.choice(DIGITS) for _ in range(rng.randint(self.min_digits, self.max_digits)))
            if digits not in avoid:
                return digits

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        lengths = [len(e["ids"]) - 1 for e in examples]
        inputs = torch.full((len(examples), max(lengths)), self.spec.pad_id, dtype=torch.long)
        targets = torch.full_like(inputs, NOT_SCORED)
        for row, (example, length) in enumerate(zip(examples, lengths)):
            ids = torch.tensor(example["ids"], dtype=torch.long)
            inputs[row, :length] = ids[:-1]
            answer = int(example["digits"]) + 1  # the position of "=": from there on, the next token is the answer
            targets[row, answer:length] = ids[answer + 1 :]
        return {"inputs": inputs, "targets": targets, "lengths": torch.tensor(lengths)}


DATAMODULES.register("reverse_digits", ReverseDigitsDataModule)
