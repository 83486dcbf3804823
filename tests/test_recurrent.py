"""The training recurrences (models/recurrent.py) are torch's own packed RNN / LSTM and pad_packed_sequence to
the last bit: outputs and every gradient, for sorted and unsorted batches of uneven lengths."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from avemotion.models.recurrent import packed_rnn, pad_packed


def _video_branch(ours: bool, seed: int, lengths: list[int], enforce_sorted: bool) -> list[torch.Tensor]:
    """The VideoEncoder's recurrences (RNN, tanh projection, LSTM, padding) and a loss's gradients."""
    torch.manual_seed(seed)
    rnn, out, lstm = nn.RNN(7, 6, batch_first=True), nn.Linear(6, 6), nn.LSTM(6, 5, batch_first=True)
    t = max(lengths) + 2
    x = torch.randn(len(lengths), t, 7, requires_grad=True)
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=enforce_sorted)
    s = packed_rnn(rnn, packed) if ours else rnn(packed)[0]
    s = s._replace(data=torch.tanh(out(s.data)))
    h = packed_rnn(lstm, s) if ours else lstm(s)[0]
    h = pad_packed(h, t) if ours else pad_packed_sequence(h, batch_first=True, total_length=t)[0]
    (h * torch.randn_like(h)).sum().backward()
    grads = [p.grad for m in (rnn, out, lstm) for p in m.parameters()]
    return [h.detach(), x.grad, *grads]


@pytest.mark.parametrize("lengths,enforce_sorted", [([3, 9, 1, 9, 5], False), ([8, 6, 6, 2], True),
                                                    ([4, 4, 4], False), ([1], False)])
def test_packed_recurrences_are_torchs_to_the_bit(lengths: list[int], enforce_sorted: bool) -> None:
    for seed in range(3):
        ref = _video_branch(False, seed, lengths, enforce_sorted)
        ours = _video_branch(True, seed, lengths, enforce_sorted)
        assert ref[0].shape == ours[0].shape
        for a, b in zip(ref, ours, strict=True):
            assert torch.equal(a, b)


def test_other_recurrences_are_left_to_torch() -> None:
    torch.manual_seed(0)
    gru = nn.GRU(3, 4, batch_first=True)
    packed = pack_padded_sequence(torch.randn(2, 5, 3), torch.tensor([5, 2]), batch_first=True)
    assert torch.equal(packed_rnn(gru, packed).data, gru(packed)[0].data)


def test_pooled_frames_are_the_means_of_each_clips_own_frames() -> None:
    """``model.video_pool``: consecutive face frames averaged, the last group shorter, padding never mixed in."""
    from avemotion.models.bimodal import pool_frames

    torch.manual_seed(0)
    lengths = torch.tensor([7, 3, 0])
    x = torch.randn(3, 7, 4) * (torch.arange(7)[None, :] < lengths[:, None]).unsqueeze(-1)
    pooled, new = pool_frames(x, lengths, 3)
    assert new.tolist() == [3, 1, 0] and pooled.shape == (3, 3, 4)
    assert torch.allclose(pooled[0, 0], x[0, :3].mean(0)) and torch.allclose(pooled[0, 2], x[0, 6])
    assert torch.allclose(pooled[1, 0], x[1, :3].mean(0)) and not pooled[2].any()


def test_video_encoder_answers_a_clip_alike_alone_and_in_a_batch() -> None:
    """With pooling, a clip's video tokens do not depend on the other clips of its batch or their padding."""
    from avemotion.models.bimodal import VideoEncoder

    torch.manual_seed(0)
    enc = VideoEncoder(6, 8, 8, 4, 0.1, pool=3).eval()
    x = torch.randn(2, 10, 6)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 4:] = False
    mask[1, 1] = False  # a faceless frame inside the clip is dropped before pooling
    with torch.no_grad():
        both, both_mask = enc(x, mask)
        alone, alone_mask = enc(x[1:], mask[1:])
    assert both_mask[1].sum() == alone_mask[0].sum() == 1
    assert torch.allclose(both[1, :1], alone[0, :1], atol=1e-6)
