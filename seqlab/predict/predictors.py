"""One predictor per task: it turns input lines into prediction rows (dicts) with a model loaded from a checkpoint."""

from __future__ import annotations

from typing import Any

from seqlab.predict.inputs import Line, PredictOptions, input_preparation


class Predictor:
    """Turns inputs into prediction rows (dicts) with a loaded module; :meth:`empty` is the row of an empty input."""

    #: the fields of a row besides ``input``
    fields: tuple[str, ...] = ()

    def __init__(self, module: Any, options: PredictOptions):
        self.module, self.model, self.spec, self.options = module, module.model, module.model.spec, options
        config = dict(getattr(module, "hparams", {}).get("config") or {})
        self.prepare = input_preparation(config)
        max_length = (config.get("data") or {}).get("max_length")
        self.max_tokens = max_length if isinstance(max_length, int) and max_length > 0 else None

    def ids(self, line: Line) -> list[int]:
        ids = self.spec.encode(self.prepare(line.text))
        return ids[: self.max_tokens] if self.max_tokens else ids

    def empty(self, line: Line) -> dict[str, Any]:
        return {"input": line.text, **dict.fromkeys(self.fields)}

    def predict(self, lines: list[Line]) -> list[dict[str, Any]]:
        """Rows in input order; lines without tokens get :meth:`empty` rows."""
        rows = [self.empty(line) for line in lines]
        todo = [i for i, line in enumerate(lines) if line.text.strip() and self.ids(line)]
        size = self.options.batch_size
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            for i, row in zip(chunk, self.predict_batch([lines[i] for i in chunk])):
                rows[i] = {"input": lines[i].text, **row}
        return rows

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def forward(self, lines: list[Line]) -> tuple[Any, list[list[int]]]:
        """The model's output for a padded batch of the lines' ids, and the ids."""
        import torch

        ids = [self.ids(line) for line in lines]
        return self.run([torch.tensor(line_ids) for line_ids in ids], self.spec.pad_id), ids

    def run(self, sequences: list[Any], pad: float) -> Any:
        """The model's output for sequences (tensors ``(T_i,)`` or ``(T_i, F)``) padded with ``pad`` into a batch."""
        import torch

        lengths = torch.tensor([len(s) for s in sequences])
        inputs = torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True, padding_value=pad)
        with torch.no_grad():
            return self.model({"inputs": inputs, "lengths": lengths})

    def generate(self, default_length: int, **inputs: Any) -> list[list[int]]:
        """The head's generation, one output per input, with the command's options (``max_length`` or the default)."""
        options = self.options
        return self.model.head.generate(self.model, num_samples=1, max_length=options.max_length or default_length,
                                        temperature=options.temperature, top_k=options.top_k, seed=options.seed,
                                        **inputs)

    def table(self, rows: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        """The stdout table's columns: (header, one cell per row)."""
        return [("input", [r["input"] for r in rows]),
                *((f, ["" if r[f] is None else str(r[f]) for r in rows]) for f in self.fields)]


class LabelPredictor(Predictor):
    """many_to_one: the most probable class and its probability; ``probabilities`` of every class."""

    fields = ("label", "probability", "probabilities")

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        import torch

        out, _ = self.forward(lines)
        probabilities = torch.softmax(out["logits"].float(), dim=-1)
        classes = self.spec.classes
        rows = []
        for p in probabilities.tolist():
            best = max(range(len(p)), key=p.__getitem__)
            rows.append({"label": classes[best], "probability": round(p[best], 6),
                         "probabilities": {c: round(v, 6) for c, v in zip(classes, p)}})
        return rows

    def table(self, rows: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        return [("input", [r["input"] for r in rows]),
                ("label", [r["label"] or "" for r in rows]),
                ("probability", ["" if r["probability"] is None else f"{r['probability']:.4f}" for r in rows])]


class TagPredictor(Predictor):
    """tagging: one tag per token (special tokens are never predicted)."""

    fields = ("tokens", "tags")

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        from seqlab.data.vocab import SPECIALS

        out, ids = self.forward(lines)
        logits = out["logits"].float()
        names = self.spec.target_vocab.itos if self.spec.target_vocab is not None else self.spec.classes
        if self.spec.target_vocab is not None:
            logits[..., : len(SPECIALS)] = float("-inf")
        best = logits.argmax(-1).tolist()
        words = [self.shown_tokens(line)[: len(line_ids)] for line, line_ids in zip(lines, ids)]
        return [{"tokens": tokens, "tags": [names[t] for t in tags[: len(tokens)]]}
                for tokens, tags in zip(words, best)]

    def shown_tokens(self, line: Line) -> list[str]:
        """The tokens as the user wrote them (word models: the words, not lower-cased)."""
        prepared = self.prepare(line.text)
        return prepared.split() if self.spec.tokenizer.kind == "word" else self.spec.tokenizer.tokenize(prepared)

    def table(self, rows: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        tagged = [" ".join(f"{w}/{t}" for w, t in zip(r["tokens"], r["tags"])) if r["tags"] else "" for r in rows]
        return [("input", [r["input"] for r in rows]), ("tags", tagged)]


class ValuePredictor(Predictor):
    """regression: one number per input (token ids, or real-valued steps ``v,m v,m …``)."""

    fields = ("value",)

    def ids(self, line: Line) -> list[int]:
        # real-valued steps: one place per step; the values are read by :meth:`steps`
        return [0] * len(line.text.split()) if self.spec.input_features else super().ids(line)

    def steps(self, line: Line) -> list[list[float]]:
        from seqlab.errors import DataError

        features = self.spec.input_features
        steps = []
        for position, step in enumerate(line.text.split(), start=1):
            try:
                numbers = [float(v) for v in step.split(",")]
            except ValueError:
                numbers = []
            if len(numbers) != features:
                raise DataError(f"line {line.number}: step {position} is '{step}'; the model reads {features} "
                                f"comma-separated numbers per step, steps separated by spaces (e.g. "
                                f"{' '.join([','.join(['0.5'] * features)] * 3)})")
            steps.append(numbers)
        return steps

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        import torch

        if not self.spec.input_features:
            out, _ = self.forward(lines)
        else:
            out = self.run([torch.tensor(self.steps(line)) for line in lines], 0.0)
        return [{"value": round(v, 6)} for v in out["logits"].float().reshape(-1).tolist()]


class TranslationPredictor(Predictor):
    """seq2seq: the translation (greedy, beam search, or sampled when ``temperature`` > 0)."""

    fields = ("translation",)

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        from seqlab.display.readable import join_tokens

        sources = [self.ids(line) for line in lines]
        beam_size = 1 if self.options.temperature > 0 else self.options.beam_size
        outputs = self.generate(2 * max(len(s) for s in sources) + 10, source=sources, beam_size=beam_size)
        vocab = self.spec.target_vocab or self.spec.vocab
        tokenizer = self.spec.target_tokenizer or self.spec.tokenizer
        return [{"translation": join_tokens(vocab.decode(ids), tokenizer)} for ids in outputs]


class ContinuationPredictor(Predictor):
    """Language models: each line continued (greedy unless ``temperature`` > 0), up to ``max_length`` tokens."""

    fields = ("continuation",)

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        from seqlab.display.readable import continue_text

        outputs = [self.generate(50, prompt=self.ids(line))[0] for line in lines]
        return [{"continuation": continue_text(line.text, self.spec.vocab.decode(ids), self.spec.tokenizer)}
                for line, ids in zip(lines, outputs)]


class ConditionPredictor(Predictor):
    """one_to_many: a sequence of the class each line names."""

    fields = ("output",)

    def ids(self, line: Line) -> list[int]:
        return [0] if line.text.strip() else []

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        from seqlab.display.readable import join_tokens
        from seqlab.registry import ConfigError

        rows = []
        for line in lines:
            try:
                ids = self.generate(300, condition=line.text.strip())[0]
            except ConfigError as err:
                raise ConfigError(f"line {line.number}: {err}; each line names a class: "
                                  f"{', '.join(self.spec.classes)}") from None
            rows.append({"output": join_tokens(self.spec.vocab.decode(ids), self.spec.tokenizer)})
        return rows


#: task → what predicts it
PREDICTORS: dict[str, type[Predictor]] = {
    "classification": LabelPredictor,
    "tagging": TagPredictor,
    "regression": ValuePredictor,
    "translation": TranslationPredictor,
    "language_model": ContinuationPredictor,
    "conditional_generation": ConditionPredictor,
}
