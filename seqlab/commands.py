"""What the ``key=value`` commands (generate, score, predict) share: options parsed to a dataclass, one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def parse_options(schema: type[T], args: list[str], usage: str, text_for: str | None = None) -> T:
    """``["ckpt_path=x", "seed=1"]`` → ``schema(...)``; unknown keys, bad types and missing values raise one-line
    :class:`~seqlab.errors.ConfigError` messages ending with the usage line. ``text_for``: what the command does with
    its ``text`` option (``to score``), which may then not be given empty."""
    from omegaconf import OmegaConf

    from seqlab.errors import ConfigError, one_line

    given = OmegaConf.from_dotlist([a for a in args if "=" in a]) if text_for else {}
    if "text" in given and not str(given.text or "").strip():
        raise ConfigError(f'text is empty: give the text {text_for}, text="..."; {usage}')
    if bad := [a for a in args if "=" not in a]:
        raise ConfigError(f"'{bad[0]}' is not key=value; {usage}")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(args))
        return schema(**OmegaConf.to_container(merged, throw_on_missing=True))
    except Exception as err:
        raise ConfigError(f"{one_line(err)}; {usage}") from None


def run_command(body: Callable[[], str]) -> None:
    """Run a command's body and print its output; a user error is printed as one line and exits 1."""
    from seqlab.errors import one_line, user_errors

    try:
        output = body()
    except user_errors() as err:
        print(f"seqlab: error: {one_line(err)}", file=sys.stderr)
        sys.exit(1)
    print(output)
