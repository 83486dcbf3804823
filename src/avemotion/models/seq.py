"""Sequence helpers shared by the baselines: masked compaction, packed (Bi)LSTMs, token projections.

Masks are True on real tokens. Frames without a face (``video_mask`` False) are dropped by
:func:`compact` before any recurrence, so they can influence nothing; padding is handled by packing.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from avemotion.data.batch import Batch
from avemotion.models.dropout import dropout as make_dropout
from avemotion.models.layers import sinusoid


def compact(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's valid positions to the front (original order kept); returns (x', mask') with
    ``mask'`` a prefix mask of width ``max(valid count, 1)`` and zeros after each row's valid part."""
    lengths = mask.sum(1)
    tmax = max(int(lengths.max()) if lengths.numel() else 0, 1)
    if bool(mask.all()) and x.shape[1] == tmax:
        return x, mask
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :tmax]
    x = torch.gather(x, 1, order.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    new_mask = torch.arange(tmax, device=x.device)[None, :] < lengths[:, None]
    return x * new_mask.unsqueeze(-1).to(x.dtype), new_mask


def run_lstm(lstm: nn.LSTM, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``lstm`` (batch_first) over prefix-masked ``x``.

    Returns the output sequence (B, T, H * directions), zero on padding, and the final state (B, H * directions):
    the last valid step of the forward direction (and the first step's state of the backward one). Rows
    without any valid step get a zero final state.
    """
    lengths = mask.sum(1)
    b, t = x.shape[:2]
    if bool((lengths == t).all()):
        out, (h_n, _) = lstm(x)
    else:
        packed = pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
        out, (h_n, _) = lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
    # h_n: (layers * directions, B, H); keep the top layer's directions
    dirs = 2 if lstm.bidirectional else 1
    final = torch.cat([h_n[-dirs + k] for k in range(dirs)], dim=-1)
    valid = (lengths > 0).to(x.dtype)
    return out * mask.unsqueeze(-1).to(out.dtype), final * valid[:, None]


def audio_tokens(batch: Batch, seq_proj: nn.Linear | None, vec_proj: nn.Linear | None, drop: nn.Module,
                 positions: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Audio input tokens as in the bimodal model: the clip vector projected to one token in front of the
    projected X^a frames; returns prefix-compacted (tokens, mask)."""
    tokens, masks = [], []
    if vec_proj is not None and batch.audio_vec is not None:
        tokens.append(vec_proj(drop(batch.audio_vec)).unsqueeze(1))
        masks.append(batch.audio_vec_mask.unsqueeze(1))
    if seq_proj is not None and batch.audio_seq is not None:
        h = seq_proj(drop(batch.audio_seq))
        if positions:
            h = h + sinusoid(h.shape[1], h.shape[-1], h.device)
        tokens.append(h)
        masks.append(batch.audio_seq_mask)
    if not tokens:
        raise ValueError("audio branch without inputs")
    return compact(torch.cat(tokens, 1), torch.cat(masks, 1))


def mlp(d_in: int, widths: tuple[int, ...], n_out: int, dropout: float, masks: str = "torch") -> nn.Sequential:
    """A multilayer feed-forward network: Linear-ReLU-Dropout per hidden width, then a linear output."""
    layers: list[nn.Module] = []
    prev = d_in
    for w in widths:
        layers += [nn.Linear(prev, w), nn.ReLU(), make_dropout(dropout, masks)]
        prev = w
    layers.append(nn.Linear(prev, n_out))
    return nn.Sequential(*layers)
