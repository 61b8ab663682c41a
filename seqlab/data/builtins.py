"""Registers the built-in datamodules by name (``data=NAME``). :data:`~seqlab.registry.DATAMODULES` imports this
module when a datamodule is first asked for, so importing :mod:`seqlab.data` does not import them all."""

from seqlab.data.abc_music import AbcMusicDataModule
from seqlab.data.adding import AddingDataModule
from seqlab.data.parallel import ParallelDataModule
from seqlab.data.tagging import TaggingDataModule
from seqlab.data.text import CharTextDataModule, WordTextDataModule
from seqlab.data.timeseries import TimeSeriesDataModule
from seqlab.data.tweets import TweetsDataModule
from seqlab.registry import DATAMODULES

for datamodule in (CharTextDataModule, WordTextDataModule, AbcMusicDataModule, TweetsDataModule, ParallelDataModule,
                   AddingDataModule, TaggingDataModule, TimeSeriesDataModule):
    DATAMODULES.register(datamodule.name, datamodule)  # data=NAME is the class's name
