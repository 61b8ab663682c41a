"""The music callback's samples of a conditional model: one per tune type, each generated from its own type."""

from __future__ import annotations

import torch

from seqlab.callbacks.music import MusicSamplesCallback
from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.models.builder import build_model
from seqlab.models.module import SequenceLitModule
from seqlab.spec import DataSpec


def test_each_conditional_sample_is_generated_from_the_type_it_is_labelled_with(tmp_path):
    """Greedy decoding (top_k=1) makes a sample a function of its condition alone, so the callback's sample for a type
    must equal the head's own greedy sample for that type. (The callback once passed the whole list of types with
    num_samples=N, which asks for N samples of *each* type: 9 samples were generated for 3, and all three shown were
    of the first type, labelled as the three types.)"""
    torch.manual_seed(0)
    classes = ["jig", "reel", "air"]
    spec = DataSpec("conditional_generation", Vocabulary.build([list("abcdefg|")]), Tokenizer(), classes=classes)
    model = build_model(spec, {"name": "lstm"}, {"name": "one_to_many", "condition_input": True},
                        {"hidden_size": 16}, embedding_dim=8)
    callback = MusicSamplesCallback(str(tmp_path), num_samples=3, max_length=12, top_k=1, seed=0)
    samples = callback.sample(SequenceLitModule(model))
    assert [kind for kind, _ in samples] == classes
    greedy = {c: spec.decode(model.head.generate(model, condition=c, max_length=12, top_k=1)[0]) for c in classes}
    assert len(set(greedy.values())) > 1  # the types lead to different tunes, so a mix-up would show
    assert [text for _, text in samples] == [greedy[c] for c in classes]
