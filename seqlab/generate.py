"""``python -m seqlab.generate ckpt_path=PATH prompt="..." temperature=0.8 num_samples=3`` — sample from a checkpoint.

Works from the checkpoint alone: the vocabulary, tokenizer and model config travel inside it. Word-level text is
joined as it reads (:mod:`seqlab.display.readable`).
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass

USAGE = (
    "usage: python -m seqlab.generate ckpt_path=PATH [prompt=TEXT] [num_samples=3] [max_length=300] "
    "[temperature=0.8] [top_k=null] [seed=0] [condition=CLASS] [source=TEXT] [beam_size=N]"
)
DEFAULT_TEMPERATURE = 0.8
DEFAULT_SAMPLES = 3


@dataclass
class GenerateOptions:
    ckpt_path: str = "???"
    prompt: str = ""
    #: null: 3 samples from a language model, 1 translation of a source
    num_samples: int | None = None
    max_length: int = 300
    #: null: 0.8 for language models; translations are decoded greedily (or by beam search) unless it is given
    temperature: float | None = None
    top_k: int | None = None
    #: seq2seq: beams (null: the model's model.head.beam_size; 1 is greedy)
    beam_size: int | None = None
    seed: int = 0
    #: class name to condition on (one_to_many heads)
    condition: str | None = None
    #: text to translate (seq2seq heads)
    source: str | None = None


def parse(args: list[str]) -> GenerateOptions:
    from seqlab.commands import parse_options
    from seqlab.registry import ConfigError

    options = parse_options(GenerateOptions, args, USAGE)
    if (options.num_samples is not None and options.num_samples < 1) or options.max_length < 1:
        raise ConfigError("num_samples and max_length must be at least 1")
    if options.beam_size is not None and options.beam_size < 1:
        raise ConfigError(f"beam_size must be at least 1, got {options.beam_size}")
    if options.temperature is not None and not (0 <= options.temperature < float("inf")):  # NaN fails too
        raise ConfigError(f"temperature={options.temperature}: expected a finite number >= 0 (0 is greedy)")
    if options.top_k is not None and options.top_k < 1:
        raise ConfigError(f"top_k={options.top_k}: expected null (no limit) or an integer >= 1")
    return options


def generate(options: GenerateOptions) -> list[str]:
    from seqlab.display.readable import continue_text
    from seqlab.models.builder import load_module
    from seqlab.plugins import load_plugins
    from seqlab.registry import ConfigError

    load_plugins()
    module = load_module(options.ckpt_path)
    model = module.model
    if not model.head.generates:
        raise ConfigError(f"ckpt_path={options.ckpt_path}: head {model.head_name} does not generate")
    prompt_ids = model.spec.encode(options.prompt) if options.prompt else None
    inputs: dict = {}
    if options.condition is not None:
        inputs["condition"] = options.condition
    if options.source is not None:
        inputs["source"] = [model.spec.encode(options.source)]
    accepted = inspect.signature(model.head.generate).parameters
    for name in inputs:
        if name not in accepted:
            raise ConfigError(f"{name}=: head {model.head_name} does not take a {name}")
    if options.beam_size is not None:
        if "beam_size" not in accepted:
            raise ConfigError(f"beam_size=: head {model.head_name} has no beam search")
        inputs["beam_size"] = options.beam_size
    translating = model.head.generates_from_source
    if translating and "source" not in inputs:
        raise ConfigError(f"ckpt_path={options.ckpt_path}: head {model.head_name} needs source=TEXT to translate")
    if translating and options.temperature is not None and options.temperature > 0:
        inputs["beam_size"] = 1  # sampling was asked for
    default_temperature = 0.0 if translating else DEFAULT_TEMPERATURE
    temperature = default_temperature if options.temperature is None else options.temperature
    num_samples = options.num_samples or (1 if translating else DEFAULT_SAMPLES)
    ids = model.head.generate(
        model,
        prompt=prompt_ids,
        num_samples=num_samples,
        max_length=options.max_length,
        temperature=temperature,
        top_k=options.top_k,
        seed=options.seed,
        **inputs,
    )
    spec = model.spec
    target = spec.target_vocab is not None
    vocab = spec.target_vocab if target else spec.vocab
    tokenizer = spec.target_tokenizer if target and spec.target_tokenizer else spec.tokenizer
    return [continue_text(options.prompt, vocab.decode(s), tokenizer) for s in ids]


def main(argv: list[str] | None = None) -> None:
    from seqlab.commands import run_command

    def body() -> str:
        samples = generate(parse(sys.argv[1:] if argv is None else argv))
        return "\n".join(f"--- sample {i + 1} ---\n{sample}" for i, sample in enumerate(samples))

    run_command(body)


if __name__ == "__main__":
    main()
