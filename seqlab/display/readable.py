"""Token ids → text a person reads, for what seqlab prints (``generate``, ``score``, ``predict``).

Character and BPE models round-trip exactly (``detokenize``). Word models join words with spaces, but none before
``. , ; : ! ? ) ] } %`` or after ``( [ {``; ``<eos>`` (the end of a line or paragraph) becomes a line break.

>>> from seqlab.data.vocab import Tokenizer
>>> join_tokens(["the", "cat", "(", "a", "tabby", ")", "sat", ".", "<eos>", "then"], Tokenizer("word"))
'the cat (a tabby) sat.\\nthen'
>>> join_tokens(list("a b."), Tokenizer("char"))
'a b.'
"""

from __future__ import annotations

from collections.abc import Iterable

from seqlab.data.vocab import BOS, EOS, PAD, Tokenizer

#: tokens written without a space before them (punctuation the word tokenizers split off)
NO_SPACE_BEFORE = frozenset(".,;:!?)]}%")
#: tokens written without a space after them
NO_SPACE_AFTER = frozenset("([{")


def join_words(words: Iterable[str]) -> str:
    """Words → text by the rules in the module docstring; ``<pad>``/``<bos>`` dropped."""
    out: list[str] = []
    glue = True  # no space before the next word (start of text, after a bracket or a line break)
    for word in words:
        if word in (PAD, BOS):
            continue
        if word == EOS:
            out.append("\n")
            glue = True
            continue
        if not glue and word not in NO_SPACE_BEFORE:
            out.append(" ")
        out.append(word)
        glue = word in NO_SPACE_AFTER
    return "".join(out).strip("\n")


def join_tokens(tokens: Iterable[str], tokenizer: Tokenizer) -> str:
    """Tokens → text: :func:`join_words` for word models, else the tokenizer's ``detokenize`` (specials dropped)."""
    if tokenizer.kind == "word":
        return join_words(tokens)
    return tokenizer.detokenize([t for t in tokens if t not in (PAD, BOS, EOS)])


def continue_text(prompt: str, tokens: list[str], tokenizer: Tokenizer) -> str:
    """A prompt and the tokens generated after it as one text: for words, the prompt's own words (as typed) joined
    with the new ones by :func:`join_words`; otherwise the prompt followed by the decoded tokens, unchanged."""
    if tokenizer.kind == "word":
        return join_words([*prompt.split(), *tokens])
    return prompt + join_tokens(tokens, tokenizer)
