"""``python -m seqlab.generate ckpt_path=PATH prompt="..." temperature=0.8 num_samples=3`` — sample from a checkpoint.

Works from the checkpoint alone: the vocabulary, tokenizer and model config travel inside it.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass

USAGE = (
    "usage: python -m seqlab.generate ckpt_path=PATH [prompt=TEXT] [num_samples=3] [max_length=300] "
    "[temperature=0.8] [top_k=null] [seed=0] [condition=CLASS] [source=TEXT]"
)


@dataclass
class GenerateOptions:
    ckpt_path: str = "???"
    prompt: str = ""
    num_samples: int = 3
    max_length: int = 300
    temperature: float = 0.8
    top_k: int | None = None
    seed: int = 0
    #: class name to condition on (one_to_many heads)
    condition: str | None = None
    #: text to translate (seq2seq heads)
    source: str | None = None


def parse(args: list[str]) -> GenerateOptions:
    from seqlab.commands import parse_options
    from seqlab.registry import ConfigError

    options = parse_options(GenerateOptions, args, USAGE)
    if options.num_samples < 1 or options.max_length < 1:
        raise ConfigError("num_samples and max_length must be at least 1")
    if options.temperature < 0:
        raise ConfigError(f"temperature must be >= 0 (0 is greedy), got {options.temperature}")
    return options


def generate(options: GenerateOptions) -> list[str]:
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
    if model.head.generates_from_source and "source" not in inputs:
        raise ConfigError(f"ckpt_path={options.ckpt_path}: head {model.head_name} needs source=TEXT to translate")
    ids = model.head.generate(
        model,
        prompt=prompt_ids,
        num_samples=options.num_samples,
        max_length=options.max_length,
        temperature=options.temperature,
        top_k=options.top_k,
        seed=options.seed,
        **inputs,
    )
    return [options.prompt + model.spec.decode(s, target=model.spec.target_vocab is not None) for s in ids]


def main(argv: list[str] | None = None) -> None:
    from seqlab.commands import run_command

    def body() -> str:
        samples = generate(parse(sys.argv[1:] if argv is None else argv))
        return "\n".join(f"--- sample {i + 1} ---\n{sample}" for i, sample in enumerate(samples))

    run_command(body)


if __name__ == "__main__":
    main()
