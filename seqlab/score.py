"""``python -m seqlab.score ckpt_path=PATH text="..."`` — the probability of a text under a language model.

Prints ``log P(y_1 … y_T) = Σ_t log P(y_t | c, y_1 … y_{t-1})`` in nats and bits, the perplexity
``exp(-log P / T)``, and each token's log-probability; ``c`` is the start context the model was trained with
(:meth:`~seqlab.spec.DataSpec.start_context`). Works from the checkpoint alone.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

USAGE = "usage: python -m seqlab.score ckpt_path=PATH text=TEXT [eos=false]"


@dataclass
class ScoreOptions:
    ckpt_path: str = "???"
    text: str = "???"
    #: also score the end of the text, log P(<eos> | text) (for models trained on whole lines)
    eos: bool = False


@dataclass
class TextScore:
    """``tokens`` and their natural-log probabilities ``log_probs`` (one per scored token)."""

    tokens: list[str]
    log_probs: list[float]
    unknown: int = 0
    #: word and BPE models: the text as the model read it (its tokens joined, unknown words as ``<unk>``)
    as_read: str | None = None

    @property
    def log_prob(self) -> float:
        return sum(self.log_probs)

    @property
    def bits(self) -> float:
        return self.log_prob / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(-self.log_prob / len(self.log_probs))


def parse(args: list[str]) -> ScoreOptions:
    from seqlab.commands import parse_options

    return parse_options(ScoreOptions, args, USAGE, text_for="to score")


def score(options: ScoreOptions) -> TextScore:
    """Score ``options.text`` with the checkpoint's language model (one forward pass, teacher-forced)."""
    import torch

    from seqlab.display.readable import join_tokens
    from seqlab.heads.many_to_many import ManyToManyHead
    from seqlab.models.builder import load_module
    from seqlab.plugins import load_plugins
    from seqlab.registry import ConfigError

    load_plugins()
    module = load_module(options.ckpt_path)
    model, spec = module.model, module.model.spec
    if spec.task != "language_model" or not isinstance(model.head, ManyToManyHead):
        raise ConfigError(
            f"ckpt_path={options.ckpt_path}: a {spec.task} model with head {model.head_name}; "
            "scoring a text needs a language model (task language_model, head many_to_many)"
        )
    tokens = spec.tokenizer.tokenize(str(options.text))
    ids = spec.vocab.encode(tokens)
    if not ids:
        raise ConfigError(f"text={options.text!r} has no tokens to score")
    targets = [*ids, spec.vocab.eos_id] if options.eos else ids
    context = spec.start_context()
    inputs = [*context, *targets[:-1]]
    with torch.no_grad():  # the logits from the context's last token on predict the targets
        logits = model({"inputs": torch.tensor([inputs])})["logits"][0, len(context) - 1 :].float()
    log_probs = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(targets)[:, None]).squeeze(1)
    shown = [*tokens, "<eos>"] if options.eos else tokens
    as_read = join_tokens(spec.vocab.decode(ids), spec.tokenizer) if spec.tokenizer.kind != "char" else None
    return TextScore(shown, log_probs.tolist(), unknown=sum(i == spec.vocab.unk_id for i in ids), as_read=as_read)


def report(result: TextScore) -> str:
    lines = [
        f"log P = {result.log_prob:.4f} nats = {result.bits:.4f} bits over {len(result.log_probs)} tokens",
        f"perplexity = {result.perplexity:.4f}   ({-result.bits / len(result.log_probs):.4f} bits per token)",
    ]
    if result.as_read is not None:
        lines.append(f"text as read: {result.as_read}")
    if result.unknown:
        lines.append(f"note: {result.unknown} token(s) not in the model's vocabulary were scored as <unk>")
    lines.append(f"{'token':<16} {'log p (nats)':>12} {'log2 p (bits)':>13}")
    for token, lp in zip(result.tokens, result.log_probs):
        lines.append(f"{token!r:<16} {lp:>12.4f} {lp / math.log(2):>13.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from seqlab.commands import run_command

    run_command(lambda: report(score(parse(sys.argv[1:] if argv is None else argv))))


if __name__ == "__main__":
    main()
