"""Baseline "lstm": multi-LSTM fusion after Zhang, Wu, Wang & Li (2022), as Liu, Feng & Li (2026) describe it.

Zhang Y., Wu L., Wang J., Li S., "Multi-modal emotion recognition based on multi-LSTMs fusion", Journal of
Chinese Information Processing 36(5), 145-152, 2022 (the paper's reference [19]; see docs/method/baselines.md).

audio  clip vector (D_v) --Linear--> one token  ] --> LSTM_a (lstm_hidden) --final state h_a
       X^a frames (T_a x D_a) --Linear--> tokens ]
video  x_t (T_v x D_x), faceless frames dropped   --> LSTM_v (lstm_hidden) --final state h_v
fused  MLFN: [h_a ; h_v] --> Linear-ReLU (lstm_hidden) --> Linear-ReLU (lstm_hidden / 2) --> classes

No decision-level fusion (that is the proposed method's contribution): the prediction is the fused head's.
A clip that lacks one modality (audio-only file, no face found) cannot feed the joint network; it is
classified by a fallback head on its own modality's LSTM state. In a bimodal model those fallback heads see
the LSTM states through a stop-gradient, so they never shape the baseline's representation; with one
modality only (``--modality audio|video``) the single head is the model's classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from avemotion.config import ModelConfig
from avemotion.data.batch import Batch
from avemotion.data.dims import FeatureDims
from avemotion.models.base import EmotionModel, ModelOutput
from avemotion.models.dropout import dropout as make_dropout
from avemotion.models.registry import MODELS
from avemotion.models.seq import audio_tokens, compact, mlp, run_lstm


@MODELS.register("lstm")
class MultiLSTMFusion(EmotionModel):
    def __init__(self, dims: FeatureDims, n_classes: int, config: ModelConfig) -> None:
        super().__init__(dims, n_classes, config)
        h, d, p = config.lstm_hidden, config.proj_dim, config.dropout
        widths = (h, max(h // 2, 1))
        self.drop = make_dropout(p, config.dropout_masks)
        self.has_a, self.has_v = dims.has_audio, dims.has_video
        if self.has_a:
            self.seq_proj = nn.Linear(dims.audio_seq, d) if dims.audio_seq else None
            self.vec_proj = nn.Linear(dims.audio_vec, d) if (dims.audio_vec and config.clip_vector) else None
            if self.seq_proj is None and self.vec_proj is None:
                raise ValueError("audio inputs exist but none is used (clip_vector off and no sequence)")
            self.lstm_a = nn.LSTM(d, h, batch_first=True)
            self.head_a = mlp(h, widths, n_classes, p, config.dropout_masks)
        if self.has_v:
            self.lstm_v = nn.LSTM(dims.video, h, batch_first=True)
            self.head_v = mlp(h, widths, n_classes, p, config.dropout_masks)
        self.bimodal = self.has_a and self.has_v
        if self.bimodal:
            self.mlfn = mlp(2 * h, widths, n_classes, p, config.dropout_masks)

    def fusion_weights(self) -> torch.Tensor:
        return torch.tensor([1.0, 0.0, 0.0])  # the joint network decides; unimodal heads only as fallback

    def encode(self, batch: Batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Final LSTM state and availability per modality."""
        out = {}
        if self.has_a:
            tok, mask = audio_tokens(batch, self.seq_proj, self.vec_proj, self.drop)
            _, h_a = run_lstm(self.lstm_a, self.drop(tok), mask)
            out["audio"] = (h_a, mask.any(1))
        if self.has_v:
            x, mask = compact(batch.video_seq, batch.video_mask)
            _, h_v = run_lstm(self.lstm_v, self.drop(x), mask)
            out["video"] = (h_v, mask.any(1))
        return out

    def forward(self, batch: Batch) -> ModelOutput:
        states = self.encode(batch)
        logits: dict[str, torch.Tensor] = {}
        available: dict[str, torch.Tensor] = {}
        for name, (h, avail) in states.items():
            head = self.head_a if name == "audio" else self.head_v
            logits[name] = head(h.detach() if self.bimodal else h)
            available[name] = avail
        if self.bimodal:
            (h_a, a_ok), (h_v, v_ok) = states["audio"], states["video"]
            logits["fused"] = self.mlfn(torch.cat([h_a, h_v], -1))
            available["fused"] = a_ok & v_ok
        return self.decide(logits, available, face_share=batch.face_share)
