"""The runnable example in the docstring of the datamodule base class (the plugin API) works as written."""

from __future__ import annotations

import doctest

import seqlab.data.base
import seqlab.data.cache


def test_the_seq_data_module_docstring_example_runs():
    result = doctest.testmod(seqlab.data.base, verbose=False)
    assert result.attempted >= 5 and result.failed == 0


def test_the_cache_identity_docstring_example_runs():
    result = doctest.testmod(seqlab.data.cache, verbose=False)
    assert result.attempted >= 3 and result.failed == 0
