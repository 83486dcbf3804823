"""Baseline "dean": Deep Emotional Arousal Network, after Zhang, Li, Lim, Hua, Dong & Zhai (2022).

Zhang F., Li X., Lim C. P., Hua Q., Dong C., Zhai J., "Deep Emotional Arousal Network for multimodal sentiment
analysis and emotion recognition", Information Fusion 88, 296-304, 2022 (reference [16] of the paper). No code
was published; this is built from the paper's description (see docs/method/baselines.md for every choice):

1. perception analysis system = cross-modal transformer (MulT-style): each modality's tokens query the other
   modality in ``DEAN_LAYERS`` stacked cross-modal blocks (pre-LN attention + feed-forward, residual);
2. cognitive comparator = multimodal BiLSTM: one BiLSTM per modality over the cross-modal transformer's
   outputs brings back the time dependence (emotional coherence) that parallel attention lacks; its two final
   states form the modality's representation h_m;
3. activation mechanism = multimodal gating block: every modality's gate is computed from all modalities,
   g_m = sigmoid(W_m [h_a ; h_v] + b_m), and the gated representations [g_a * h_a ; g_v * h_v] go to the
   classifier (a two-layer feed-forward head).

Inputs are treated exactly as in the bimodal model (same audio token encoder incl. the clip-vector token;
video frames without a face dropped). With one modality only, the cross-modal blocks become self-attention
blocks over that modality. As in the "lstm" baseline, there is no decision-level fusion; a clip lacking one
modality is classified by a fallback head on its own (stop-gradient) pooled encoder tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from avemotion.config import ModelConfig
from avemotion.data.batch import Batch
from avemotion.data.dims import FeatureDims
from avemotion.models.base import EmotionModel, ModelOutput
from avemotion.models.dropout import dropout as make_dropout
from avemotion.models.layers import AudioEncoder, CrossModalBlock, masked_mean, sinusoid
from avemotion.models.registry import MODELS
from avemotion.models.seq import compact, mlp, run_lstm

DEAN_LAYERS = 2  #: cross-modal transformer blocks per direction


class VideoTokens(nn.Module):
    """Face frames projected to d (MulT's 1x1 temporal conv) with sinusoidal positions."""

    def __init__(self, in_dim: int, d: int, dropout: float, masks: str = "torch") -> None:
        super().__init__()
        self.drop = make_dropout(dropout, masks)
        self.proj = nn.Linear(in_dim, d)
        self.norm = nn.LayerNorm(d)
        self.d = d

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, mask = compact(x, mask)
        h = self.proj(self.drop(x)) + sinusoid(x.shape[1], self.d, x.device)
        return self.norm(h) * mask.unsqueeze(-1).to(h.dtype), mask


class Comparator(nn.Module):
    """Cross-modal (or self-) attention blocks followed by a BiLSTM; returns the BiLSTM's final states (d)."""

    def __init__(self, d: int, config: ModelConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            CrossModalBlock(d, config.attn_dim, config.attn_heads, config.ffn_mult, config.dropout,
                            config.dropout_masks)
            for _ in range(DEAN_LAYERS))
        self.norm = nn.LayerNorm(d)
        self.bilstm = nn.LSTM(d, max(d // 2, 1), batch_first=True, bidirectional=True)

    def forward(self, xq: torch.Tensor, q_mask: torch.Tensor, xkv: torch.Tensor, kv_mask: torch.Tensor) -> torch.Tensor:
        z = xq
        for block in self.blocks:
            z = block(z, xkv, kv_mask)
        _, final = run_lstm(self.bilstm, self.norm(z), q_mask)
        return final


@MODELS.register("dean")
class DEAN(EmotionModel):
    def __init__(self, dims: FeatureDims, n_classes: int, config: ModelConfig) -> None:
        super().__init__(dims, n_classes, config)
        d, p, masks = config.proj_dim, config.dropout, config.dropout_masks
        self.has_a, self.has_v = dims.has_audio, dims.has_video
        h = 2 * max(d // 2, 1)  # BiLSTM state width
        if self.has_a:
            self.audio = AudioEncoder(dims.audio_seq, dims.audio_vec, d, p, config.clip_vector, masks=masks)
            if self.audio.seq_proj is None and not self.audio.uses_vec:
                raise ValueError("audio inputs exist but none is used (clip_vector off and no sequence)")
            self.comp_a = Comparator(d, config)
        if self.has_v:
            self.video = VideoTokens(dims.video, d, p, masks)
            self.comp_v = Comparator(d, config)
        self.bimodal = self.has_a and self.has_v
        n_mod = int(self.has_a) + int(self.has_v)
        self.gates = nn.ModuleList(nn.Linear(n_mod * h, h) for _ in range(n_mod))
        self.head = mlp(n_mod * h, (d,), n_classes, p, masks)
        if self.bimodal:  # fallbacks for clips with one modality only
            self.head_a = mlp(d, (d,), n_classes, p, masks)
            self.head_v = mlp(d, (d,), n_classes, p, masks)

    def fusion_weights(self) -> torch.Tensor:
        return torch.tensor([1.0, 0.0, 0.0])

    def forward(self, batch: Batch) -> ModelOutput:
        toks: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if self.has_a:
            a, a_mask = self.audio(batch)
            toks["audio"] = compact(a, a_mask)
        if self.has_v:
            toks["video"] = self.video(batch.video_seq, batch.video_mask)
        states = []
        if self.bimodal:
            (a, am), (v, vm) = toks["audio"], toks["video"]
            states = [self.comp_a(a, am, v, vm), self.comp_v(v, vm, a, am)]
        else:
            (x, m), = toks.values()
            states = [(self.comp_a if self.has_a else self.comp_v)(x, m, x, m)]
        joint = torch.cat(states, -1)
        gated = torch.cat([torch.sigmoid(g(joint)) * s for g, s in zip(self.gates, states, strict=True)], -1)
        logits: dict[str, torch.Tensor] = {}
        available: dict[str, torch.Tensor] = {}
        if self.bimodal:
            (a, am), (v, vm) = toks["audio"], toks["video"]
            logits["fused"] = self.head(gated)
            available["fused"] = am.any(1) & vm.any(1)
            logits["audio"] = self.head_a(masked_mean(a, am).detach())
            logits["video"] = self.head_v(masked_mean(v, vm).detach())
            available["audio"], available["video"] = am.any(1), vm.any(1)
        else:
            name = "audio" if self.has_a else "video"
            logits[name] = self.head(gated)
            available[name] = toks[name][1].any(1)
        return self.decide(logits, available, face_share=batch.face_share)
