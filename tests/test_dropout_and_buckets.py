"""The cheaper dropout masks (``model.dropout_masks``) and length bucketing (``train.length_buckets``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from avemotion.config import Config
from avemotion.data.batch import bucketed, clip_length
from avemotion.errors import ConfigError
from avemotion.features.record import ClipFeatures
from avemotion.models.dropout import Dropout, dropout, fast_mask


def test_fast_mask_keeps_one_minus_p_and_is_reproducible_from_torch_seed() -> None:
    torch.manual_seed(3)
    a = fast_mask(torch.Size((400, 500)), 0.2)
    torch.manual_seed(3)
    b = fast_mask(torch.Size((400, 500)), 0.2)
    c = fast_mask(torch.Size((400, 500)), 0.2)  # the next draw: another mask
    assert a.dtype == torch.bool and a.shape == (400, 500)
    assert torch.equal(a, b) and not torch.equal(b, c)
    assert abs(a.float().mean().item() - 0.8) < 0.005  # 200k draws: SE 0.0009


def test_dropout_scales_kept_elements_and_passes_gradients_through_the_mask() -> None:
    layer = Dropout(0.25)
    x = torch.randn(64, 30, requires_grad=True)
    torch.manual_seed(0)
    y = layer(x)
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / 0.75)
    y.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.75)
    layer.eval()
    assert layer(x) is x  # identity in eval mode
    assert Dropout(0.0).train()(x) is x


def test_dropout_falls_back_to_torch_where_asked_and_rejects_bad_p() -> None:
    assert isinstance(dropout(0.2, "torch"), nn.Dropout) and isinstance(dropout(0.2, "fast"), Dropout)
    with pytest.raises(ValueError, match="dropout_masks"):
        dropout(0.2, "numpy")
    with pytest.raises(ValueError, match="probability"):
        Dropout(1.0)


def test_a_model_with_fast_masks_trains_reproducibly() -> None:
    """Two identical seeded training steps of a small model give the same weights; the masks differ from
    torch's (another model than ``dropout_masks=torch``)."""
    def step(masks: str) -> torch.Tensor:
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(20, 16), dropout(0.3, masks), nn.Linear(16, 3))
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        x, y = torch.randn(32, 20), torch.randint(0, 3, (32,))
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        return net[0].weight.detach().clone()

    assert torch.equal(step("fast"), step("fast"))
    assert not torch.equal(step("fast"), step("torch"))


def test_bucketed_batches_hold_every_clip_once_and_similar_lengths() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 200, size=300)
    order = np.arange(300)
    gen = torch.Generator().manual_seed(1)
    batches = bucketed(order, lengths[order], 32, 4, gen)
    assert sorted(np.concatenate(batches).tolist()) == list(range(300))
    assert all(len(b) <= 32 for b in batches)
    # padding: each batch padded to its longest clip; far less than random batches of the same clips
    padded = sum(len(b) * lengths[b].max() for b in batches)
    shuffled = rng.permutation(300)
    random_padded = sum(len(b) * lengths[b].max() for b in np.array_split(shuffled, len(batches)))
    assert padded < 0.75 * random_padded
    # the same generator state gives the same batches; the next epoch another partition
    again = bucketed(order, lengths[order], 32, 4, torch.Generator().manual_seed(1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    later = bucketed(order, lengths[order], 32, 4, gen)
    assert {frozenset(b.tolist()) for b in later} != {frozenset(b.tolist()) for b in batches}


def test_clip_length_counts_audio_tokens_and_video_frames() -> None:
    f = ClipFeatures("c", audio_seq=np.zeros((7, 4), np.float32), video_seq=np.zeros((11, 3), np.float32))
    assert clip_length(f) == 18
    assert clip_length(ClipFeatures("d", audio_seq=np.zeros((5, 4), np.float32))) == 5


def test_length_buckets_and_masks_are_config_settings() -> None:
    c = Config().with_overrides({"train.length_buckets": "8", "model.dropout_masks": "fast"})
    assert c.train.length_buckets == 8 and c.model.dropout_masks == "fast"
    with pytest.raises(ConfigError, match="dropout_masks"):
        Config().with_overrides({"model.dropout_masks": "numpy"})
