"""Pretrained word vectors (GloVe / word2vec text format) for the input embedding: ``model.pretrained_vectors=PATH``."""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from seqlab.data.vocab import SPECIALS, Vocabulary
from seqlab.errors import ConfigError, DataError

log = logging.getLogger("seqlab.data")


@dataclass
class LoadedVectors:
    """Rows for a vocabulary: ``vectors (V, dim)`` and ``found (V,)`` (True where the file had the word)."""

    vectors: Tensor
    found: Tensor

    @property
    def coverage(self) -> float:
        """Fraction of the non-special vocabulary found in the file."""
        words = self.found[len(SPECIALS) :]
        return float(words.float().mean()) if words.numel() else 0.0


def read_word_vectors(path: str | Path, vocab: Vocabulary, dim: int) -> LoadedVectors:
    """Read the vectors of ``vocab``'s words from a GloVe (``word v_1 … v_d`` per line) or word2vec text file
    (the same after a ``count dim`` header line; ``.gz`` files too). A word missing from the file falls back to
    its lowercase form; still missing, its row is zero and ``found`` False. A missing file or a wrong ``dim`` is a
    :class:`ConfigError`, a malformed line a :class:`DataError`.

    >>> import tempfile, pathlib
    >>> from seqlab.data.vocab import Vocabulary
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "vectors.txt"
    >>> _ = path.write_text("the 0.5 1.0\\ncat -1 2\\n")
    >>> loaded = read_word_vectors(path, Vocabulary.build([["the", "cat", "sat"]]), 2)
    >>> loaded.vectors[4].tolist(), loaded.found[4:].tolist(), round(loaded.coverage, 2)
    ([0.5, 1.0], [True, True, False], 0.67)
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"model.pretrained_vectors={path}: no such file")
    wanted = set(vocab.itos[len(SPECIALS) :])
    wanted |= {w.lower() for w in wanted}
    table: dict[str, list[float]] = {}
    first_vector = True
    try:
        with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                parts = line.rstrip().split(" ")
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    if int(parts[1]) != dim:
                        raise ConfigError(_dim_error(path, int(parts[1]), dim))
                    continue  # the word2vec header
                if len(parts) < 2:
                    continue  # a blank line
                if len(parts) - 1 != dim:
                    if first_vector:
                        raise ConfigError(_dim_error(path, len(parts) - 1, dim))
                    raise DataError(f"{path}:{number}: {len(parts) - 1} numbers after the word, expected {dim}")
                first_vector = False
                if parts[0] in wanted:
                    try:
                        table[parts[0]] = [float(v) for v in parts[1:]]
                    except ValueError:
                        raise DataError(f"{path}:{number}: not a number in the vector of '{parts[0]}'") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (expected a GloVe/word2vec text file)") from None
    vectors = torch.zeros(len(vocab), dim)
    found = torch.zeros(len(vocab), dtype=torch.bool)
    for index, word in enumerate(vocab.itos[len(SPECIALS) :], start=len(SPECIALS)):
        row = table.get(word, table.get(word.lower()))
        if row is not None:
            vectors[index] = torch.tensor(row)
            found[index] = True
    return LoadedVectors(vectors, found)


def _dim_error(path: Path, file_dim: int, dim: int) -> str:
    return (
        f"model.pretrained_vectors={path}: the file's vectors have {file_dim} dimensions but "
        f"model.embedding_dim={dim}; set model.embedding_dim={file_dim}"
    )


def load_pretrained_embedding(
    weight: Tensor, path: str | Path, vocab: Vocabulary, padding_idx: int | None = None
) -> LoadedVectors:
    """Copy the file's vectors into the rows of an embedding ``weight (V, dim)`` in place (words missing from the
    file keep their random initialisation; the padding row stays zero) and log the coverage."""
    loaded = read_word_vectors(path, vocab, weight.shape[1])
    with torch.no_grad():
        weight[loaded.found] = loaded.vectors[loaded.found].to(weight.dtype)
        if padding_idx is not None:
            weight[padding_idx].zero_()
    log.info(
        "pretrained vectors %s: %d of %d words found (%.1f%% coverage); the others keep their random initialisation",
        path,
        int(loaded.found[len(SPECIALS) :].sum()),
        len(vocab) - len(SPECIALS),
        100 * loaded.coverage,
    )
    return loaded
