"""Padding collates, the length-bucketed batch sampler (determinism, DDP) and BPTT streams."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from seqlab.data.batching import BucketBatchSampler, StreamBatches, collate_translation, pad_batch

LENGTHS = np.random.default_rng(0).integers(1, 200, size=1000)


def bucketed(seed: int = 7, **options) -> BucketBatchSampler:
    sampler = RandomSampler(range(len(LENGTHS)), generator=torch.Generator().manual_seed(seed))
    return BucketBatchSampler(sampler, 16, LENGTHS, seed=seed, **options)


def padding_fraction(batches: list[list[int]]) -> float:
    padded = sum(len(b) * LENGTHS[b].max() for b in batches)
    return 1 - LENGTHS.sum() / padded


def test_pad_batch_right_pads_and_returns_lengths():
    ids, lengths = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]


def test_translation_collate_shifts_the_target_by_one():
    batch = collate_translation([{"src": [4, 5], "tgt": [2, 7, 8, 3]}, {"src": [6], "tgt": [2, 9, 3]}])
    assert batch["targets_in"].tolist() == [[2, 7, 8], [2, 9, 0]]
    assert batch["targets"].tolist() == [[7, 8, 3], [9, 3, 0]]
    assert batch["target_lengths"].tolist() == [3, 2] and batch["lengths"].tolist() == [2, 1]


def test_bucket_sampler_covers_every_index_once_with_far_less_padding_than_random_batches():
    batches = list(bucketed())
    assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
    assert len(batches) == len(bucketed())
    random_batches = list(BatchSampler(RandomSampler(range(len(LENGTHS))), 16, False))
    assert padding_fraction(batches) < 0.1 < 0.4 < padding_fraction(random_batches)


def test_bucket_sampler_is_deterministic_from_the_seed_and_changes_with_the_epoch():
    assert list(bucketed(seed=3)) == list(bucketed(seed=3))
    assert list(bucketed(seed=3)) != list(bucketed(seed=4))
    sampler = bucketed(seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_bucket_sampler_deals_batches_to_ranks_without_overlap_when_given_the_world_size():
    ranks = [list(bucketed(seed=1, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(bucketed(seed=1, num_replicas=2))
    seen = [set(i for b in batches for i in b) for batches in ranks]
    assert seen[0] | seen[1] == set(range(len(LENGTHS)))


def test_lightning_ddp_rebuilds_the_bucket_sampler_around_its_distributed_sampler():
    """What Lightning does with use_distributed_sampler=true: the batch sampler is re-created with a
    DistributedSampler as its ``sampler``, so each rank buckets its own disjoint share."""
    from lightning_fabric.utilities.data import _replace_dunder_methods
    from pytorch_lightning.utilities.data import _update_dataloader

    dataset = list(range(len(LENGTHS)))
    with _replace_dunder_methods(BatchSampler):
        loader = DataLoader(dataset, batch_sampler=BucketBatchSampler(SequentialSampler(dataset), 16, LENGTHS))
    shares = []
    for rank in (0, 1):
        distributed = DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=5)
        rebuilt = _update_dataloader(loader, distributed)
        assert isinstance(rebuilt.batch_sampler, BucketBatchSampler)
        shares.append({int(i) for batch in rebuilt for i in batch})
    assert not shares[0] & shares[1] and shares[0] | shares[1] == set(dataset)


def test_stream_batches_continue_each_row_across_batches():
    ids = np.arange(103)
    batches = list(StreamBatches(ids, batch_size=4, bptt=5))
    stream_rows = ids[:100].reshape(4, 25)
    joined = torch.cat([b["inputs"] for b in batches], dim=1)
    assert joined.tolist() == stream_rows[:, :24].tolist()
    for b in batches:
        assert torch.equal(b["targets"][:, :-1], b["inputs"][:, 1:])
    assert len(batches) == len(StreamBatches(ids, batch_size=4, bptt=5)) == 5


def test_stream_batches_give_each_rank_its_own_streams():
    ids = np.arange(400)
    rank0 = next(iter(StreamBatches(ids, 2, 5, num_replicas=2, rank=0)))["inputs"]
    rank1 = next(iter(StreamBatches(ids, 2, 5, num_replicas=2, rank=1)))["inputs"]
    assert rank0[:, 0].tolist() == [0, 100] and rank1[:, 0].tolist() == [200, 300]
