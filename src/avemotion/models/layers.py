"""Layers shared by the bimodal model and the baselines: masked pooling, sinusoidal positions, the audio token
encoder (eq. 12) and the MulT-style cross-modal attention block (eqs. 13-14)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avemotion.data.batch import Batch
from avemotion.models.dropout import dropout as make_dropout


def masked_mean(x: torch.Tensor, mask: torch.Tensor, full: bool = False) -> torch.Tensor:
    """Mean of (B, T, D) over the True positions of (B, T); zeros for rows without any. ``full``: the caller
    knows that every position is True (a plain mean, fewer operations)."""
    if full:
        return x.mean(1)
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


_PE_CACHE: dict[tuple[int, int, str], torch.Tensor] = {}


def sinusoid(t: int, d: int, device: torch.device | None = None) -> torch.Tensor:
    """Sinusoidal position encodings (t, d), as in the Transformer / MulT (cached)."""
    key = (d, str(device))
    if key not in _PE_CACHE or _PE_CACHE[key].shape[0] < t:
        _PE_CACHE[key] = _sinusoid(max(t, 256), d, device)
    return _PE_CACHE[key][:t]


def _sinusoid(t: int, d: int, device: torch.device | None = None) -> torch.Tensor:
    pos = torch.arange(t, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, d, 2, device=device, dtype=torch.float32)
    angle = pos / torch.pow(10000.0, i / d)
    pe = torch.zeros(t, d, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d // 2])
    return pe


class AudioEncoder(nn.Module):
    """Eq. 12 for audio: each X^a frame and the clip vector projected to d_u; one residual temporal conv.

    The clip vector is one token (``vec_groups`` empty), or one token per feature group (MFCC statistics, each
    openSMILE set, SoundNet, Whisper: ``model.clip_vector_tokens = per_group``), so that a 6k-dim openSMILE set
    cannot drown a 768-dim encoder vector in one projection. The clip-vector tokens come first (``n_vec``).
    """

    def __init__(self, seq_dim: int, vec_dim: int, d: int, dropout: float, use_vec: bool,
                 vec_groups: tuple[int, ...] = (), masks: str = "torch") -> None:
        super().__init__()
        self.seq_proj = nn.Linear(seq_dim, d) if seq_dim else None
        self.conv = nn.Conv1d(d, d, kernel_size=3, padding=1) if seq_dim else None
        use = bool(vec_dim and use_vec)
        self.vec_groups = tuple(vec_groups) if use and len(vec_groups) > 1 and sum(vec_groups) == vec_dim else ()
        self.vec_proj = nn.Linear(vec_dim, d) if use and not self.vec_groups else None
        self.group_proj = nn.ModuleList(nn.Linear(w, d) for w in self.vec_groups) if self.vec_groups else None
        self.n_vec = len(self.vec_groups) if self.vec_groups else int(self.vec_proj is not None)
        self.in_drop = make_dropout(dropout, masks)
        self.norm = nn.LayerNorm(d)
        self.d = d

    @property
    def uses_vec(self) -> bool:
        return self.n_vec > 0

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, masks = [], []
        if self.n_vec and batch.audio_vec is not None:
            x = self.in_drop(batch.audio_vec) if self.training else batch.audio_vec
            if self.group_proj is not None:
                parts = torch.split(x, list(self.vec_groups), dim=1)
                tokens.append(torch.stack([proj(part) for proj, part in zip(self.group_proj, parts, strict=True)], 1))
            else:
                tokens.append(self.vec_proj(x).unsqueeze(1))
            masks.append(batch.audio_vec_mask.unsqueeze(1).expand(-1, self.n_vec))
        if self.seq_proj is not None and batch.audio_seq is not None:
            m = batch.audio_seq_mask
            h = self.seq_proj(self.in_drop(batch.audio_seq) if self.training else batch.audio_seq)
            h = h + sinusoid(h.shape[1], self.d, h.device)
            h = h * m.unsqueeze(-1)  # padding is zero, as the conv's own padding: batching changes nothing
            h = h + F.gelu(self.conv(h.transpose(1, 2)).transpose(1, 2))
            tokens.append(h)
            masks.append(m)
        if not tokens:  # the store had audio but this model uses no column of it
            raise ValueError("audio encoder without inputs")
        return self.norm(torch.cat(tokens, 1)), torch.cat(masks, 1)


class CrossModalBlock(nn.Module):
    """Eqs. 13-14 as in MulT: Z = X_q + W_o softmax(Q K^T / sqrt(d_k)) V with Q from the query modality and
    K, V from the other (pre-LayerNorm), then Z + FFN(LN(Z))."""

    def __init__(self, d: int, attn_dim: int, heads: int, ffn_mult: int, dropout: float,
                 masks: str = "torch") -> None:
        super().__init__()
        if attn_dim % heads:
            raise ValueError(f"attn_dim ({attn_dim}) must be divisible by attn_heads ({heads})")
        self.heads = heads
        self.ln_q, self.ln_kv, self.ln_ff = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v = nn.Linear(d, attn_dim), nn.Linear(d, attn_dim), nn.Linear(d, attn_dim)
        self.o = nn.Linear(attn_dim, d)
        self.ff = nn.Sequential(nn.Linear(d, ffn_mult * d), nn.GELU(), make_dropout(dropout, masks),
                                nn.Linear(ffn_mult * d, d))
        self.drop = make_dropout(dropout, masks)

    def forward(self, xq: torch.Tensor, xkv: torch.Tensor, kv_mask: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self._infer(xq, xkv, kv_mask)
        b, tq, _ = xq.shape
        tk = xkv.shape[1]
        h = self.heads
        q = self.q(self.ln_q(xq)).view(b, tq, h, -1).transpose(1, 2)
        kv = self.ln_kv(xkv)
        k = self.k(kv).view(b, tk, h, -1).transpose(1, 2)
        v = self.v(kv).view(b, tk, h, -1).transpose(1, 2)
        # a clip without any key (the other modality absent) attends to position 0; its fused output is unused
        safe = kv_mask.clone()
        safe[:, 0] |= ~kv_mask.any(1)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=safe[:, None, None, :])
        z = xq + self.drop(self.o(attn.transpose(1, 2).reshape(b, tq, -1)))
        return z + self.drop(self.ff(self.ln_ff(z)))

    def _infer(self, xq: torch.Tensor, xkv: torch.Tensor, kv_mask: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` in eval mode with fewer operations: functional calls (no dropout modules), no mask when
        every key is valid (a single clip). Same outputs (tests/test_model.py pins them to the training path)."""
        b, tq, d = xq.shape
        h = self.heads
        ln_q, ln_kv, ln_ff = self.ln_q, self.ln_kv, self.ln_ff
        q = F.linear(F.layer_norm(xq, (d,), ln_q.weight, ln_q.bias, ln_q.eps), self.q.weight, self.q.bias)
        kv = F.layer_norm(xkv, (d,), ln_kv.weight, ln_kv.bias, ln_kv.eps)
        k = F.linear(kv, self.k.weight, self.k.bias)
        v = F.linear(kv, self.v.weight, self.v.bias)
        q, k, v = (t.view(b, -1, h, t.shape[-1] // h).transpose(1, 2) for t in (q, k, v))
        if bool(kv_mask.all()):
            mask = None
        else:
            mask = kv_mask.clone()
            mask[:, 0] |= ~kv_mask.any(1)
            mask = mask[:, None, None, :]
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        z = xq + F.linear(attn.transpose(1, 2).reshape(b, tq, -1), self.o.weight, self.o.bias)
        f1, f2 = self.ff[0], self.ff[3]
        y = F.linear(F.layer_norm(z, (d,), ln_ff.weight, ln_ff.bias, ln_ff.eps), f1.weight, f1.bias)
        return z + F.linear(F.gelu(y), f2.weight, f2.bias)
