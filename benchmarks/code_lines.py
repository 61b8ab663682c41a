"""Lines of seqlab/ at a commit: all lines, and code lines (Python's tokenizer: no comments, docstrings or blanks).

    python benchmarks/code_lines.py a428f40 HEAD
"""

from __future__ import annotations

import io
import subprocess
import sys
import tokenize

SKIPPED = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
STATEMENT_START = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL)


def code_lines(source: str) -> int:
    """Lines holding a token that is not a comment or a string statement (a docstring)."""
    lines: set[int] = set()
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            continue
        if token.type in SKIPPED:  # NEWLINE/INDENT/DEDENT/NL are remembered: a string after them opens a statement
            previous = token
            continue
        if token.type == tokenize.STRING and (previous is None or previous.type in STATEMENT_START):
            previous = token  # a docstring (or any string statement) is not code
            continue
        lines.update(range(token.start[0], token.end[0] + 1))
        previous = token
    return len(lines)


def main() -> None:
    for rev in sys.argv[1:] or ["HEAD"]:
        names = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "seqlab"], capture_output=True,
                               text=True, check=True).stdout.split()
        sources = [subprocess.run(["git", "show", f"{rev}:{name}"], capture_output=True, text=True, check=True).stdout
                   for name in names if name.endswith(".py")]
        print(f"{rev}: {sum(map(code_lines, sources))} code lines, {sum(s.count(chr(10)) for s in sources)} lines")


if __name__ == "__main__":
    main()
