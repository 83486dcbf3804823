"""The bimodal network of Liu, Feng & Li (2026), sections 2.2-3.2 (eqs. 8-21); see docs/method/model.md.

audio tokens  X^a seq (T_a x D_a) --Linear (eq. 12)--+ positions --residual Conv1d--> A (T_a' x d_u)
              clip vector (D_v)  --Linear (eq. 12)--> one extra token of A
video frames  x_t (T_v x D_x), face mask --drop faceless frames--> RNN 128 (eq. 8) --> LSTM 256 (eqs. 9-11)
              = X^b --Linear (eq. 12)--> V (T_v' x d_u)
CMA (eqs. 13-14, MulT-style): Z_av = CM(q=A, kv=V), Z_va = CM(q=V, kv=A); X_m = [pool Z_av, pool Z_va] (eq. 15)
G_phi (eqs. 16-17): r_a = G_a(X_m), r_v = G_v(X_m); L_REC = MSE(r_a, u_a) + MSE(r_v, u_v) (eq. 18)
heads: y_m = H_m(X_m), y_a = H_a(u_a), y_v = H_v(u_v); decision fusion (eq. 19) in EmotionModel.decide.

Extensions (ours, off by default): ``model.video_prior`` = residual makes y_v = log prior + H_v(u_v) with H_v's
last layer starting at zero, the prior being the pretrained expression CNN's probabilities mapped onto the
labels (data/expression_prior.py); zero_shot makes y_v = log prior with no video network at all.
``model.fused_weight`` = 0 builds no fused head (decision-level fusion of the unimodal heads only).
``model.linear_readout`` = select gives each head a logistic regression on its clip functionals, fitted before
training (models/readout.py); in eval mode a head predicts (1 - w) p_network + w p_readout, with w in {0, 0.5, 1}
chosen on the validation clips along with the epoch (buffer ``readout_weight``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from avemotion.config import ModelConfig
from avemotion.data.batch import Batch
from avemotion.data.dims import FeatureDims
from avemotion.models.base import EmotionModel, ModelOutput
from avemotion.models.dropout import dropout as make_dropout
from avemotion.models.layers import AudioEncoder, CrossModalBlock, masked_mean
from avemotion.models.readout import LinearReadout, ReadoutMixin, balanced_class_weights, fit_readout
from avemotion.models.recurrent import packed_rnn, pad_packed
from avemotion.models.registry import MODELS


class VideoEncoder(nn.Module):
    """Eqs. 8-11: an RNN (s_t = tanh(U x_t + W s_{t-1}), O_t = tanh(V s_t)) followed by an LSTM, whose hidden
    states h_t form X^b. Frames without a face are dropped before the recurrences (the state is carried
    over them), so they cannot influence anything."""

    def __init__(self, in_dim: int, rnn_hidden: int, lstm_hidden: int, d: int, dropout: float,
                 pool: int = 1, masks: str = "torch") -> None:
        super().__init__()
        self.pool = pool
        self.in_drop = make_dropout(dropout, masks)
        self.rnn = nn.RNN(in_dim, rnn_hidden, batch_first=True, nonlinearity="tanh")
        self.out = nn.Linear(rnn_hidden, rnn_hidden)  # V of eq. 8, g = tanh
        self.lstm = nn.LSTM(rnn_hidden, lstm_hidden, batch_first=True)
        self.proj = nn.Linear(lstm_hidden, d)  # eq. 12 for video: M_{X^b} X^b + a_{X^b}
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = mask.sum(1)
        tmax = max(int(lengths.max()), 1)
        if x.shape[0] == 1 and int(lengths[0]) > 0:  # one clip (inference): keep its face frames
            if int(lengths[0]) < x.shape[1]:
                x = x.index_select(1, mask[0].nonzero().squeeze(1))  # = x[:, mask[0]], in half the time
            new_mask = torch.ones(1, tmax, dtype=torch.bool, device=x.device)
        else:
            # stable sort puts each clip's face frames first, in their original order
            order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :tmax]
            x = torch.gather(x, 1, order.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
            new_mask = torch.arange(tmax, device=x.device)[None, :] < lengths[:, None]
            x = x * new_mask.unsqueeze(-1)
        if self.pool > 1:
            x, lengths = pool_frames(x, lengths, self.pool)
            tmax = x.shape[1]
            new_mask = torch.arange(tmax, device=x.device)[None, :] < lengths[:, None]
        if self.training:
            x = self.in_drop(x)
        if bool((lengths == tmax).all()):
            s, _ = self.rnn(x)
            h, _ = self.lstm(torch.tanh(self.out(s)))
        else:
            lens = lengths.clamp_min(1).cpu()
            packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
            # with gradients, the recurrences at linear backward cost (models/recurrent.py), same numbers
            recur = packed_rnn if torch.is_grad_enabled() else (lambda module, seq: module(seq)[0])
            s = recur(self.rnn, packed)
            s = s._replace(data=torch.tanh(self.out(s.data)))
            h = recur(self.lstm, s)
            h = pad_packed(h, tmax) if torch.is_grad_enabled() else \
                pad_packed_sequence(h, batch_first=True, total_length=tmax)[0]
        return self.norm(self.proj(h)), new_mask


def pool_frames(x: torch.Tensor, lengths: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each clip's face frames averaged in consecutive groups of ``k`` (the last group may be shorter), and the new
    lengths. ``x`` holds each clip's ``lengths`` frames first and zeros after them."""
    b, t, dim = x.shape
    steps = -(-t // k)
    if steps * k != t:
        x = F.pad(x, (0, 0, 0, steps * k - t))
    counts = (lengths[:, None] - torch.arange(steps, device=x.device)[None, :] * k).clamp(0, k)
    x = x.view(b, steps, k, dim).sum(2) / counts.clamp_min(1).unsqueeze(-1).to(x.dtype)
    return x, -(-lengths // k)


class _Head(nn.Sequential):
    """Dropout, Linear, GELU, Dropout, Linear; in eval mode the two linears and the GELU called directly (the
    dropouts are the identity there), which saves the per-module call overhead at batch 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        first, last = self[1], self[4]
        return F.linear(F.gelu(F.linear(x, first.weight, first.bias)), last.weight, last.bias)


def _head(d_in: int, d_hidden: int, n: int, dropout: float, masks: str) -> nn.Sequential:
    return _Head(make_dropout(dropout, masks), nn.Linear(d_in, d_hidden), nn.GELU(), make_dropout(dropout, masks),
                 nn.Linear(d_hidden, n))


@MODELS.register("bimodal")
class BimodalModel(ReadoutMixin, EmotionModel):
    """The paper's model. With one modality only (``--modality audio|video``) it is that branch and its head."""

    shares_video_rows = True  # takes batches whose clips share video rows (Batch.video_rows)

    def __init__(self, dims: FeatureDims, n_classes: int, config: ModelConfig) -> None:
        super().__init__(dims, n_classes, config)
        d, p, masks = config.proj_dim, config.dropout, config.dropout_masks
        groups = dims.audio_vec_groups if config.clip_vector_tokens == "per_group" else ()
        self.audio = (AudioEncoder(dims.audio_seq, dims.audio_vec, d, p, config.clip_vector, groups, masks)
                      if dims.has_audio else None)
        if self.audio is not None and self.audio.seq_proj is None and not self.audio.uses_vec:
            raise ValueError("audio inputs exist but none is used (clip_vector off and no sequence)")
        self.prior = config.video_prior if dims.has_video else "none"
        self.video = (VideoEncoder(dims.video, config.rnn_hidden, config.lstm_hidden, d, p, config.video_pool,
                                   masks)
                      if dims.has_video and self.prior != "zero_shot" else None)
        self.norm_a = nn.LayerNorm(d) if self.audio is not None else None
        self.norm_v = nn.LayerNorm(d) if self.video is not None else None
        # the face frames' mean and std as one more video token (the functionals a linear model is given)
        self.vvec = (nn.Sequential(make_dropout(p, masks), nn.Linear(2 * dims.video, d))
                     if self.video is not None and config.video_clip_vector else None)
        self.head_a = _head(d, d, n_classes, p, masks) if self.audio is not None else None
        # wide & deep: a linear classifier on the standardised clip vector added to the audio head's logits
        self.lin_a = (nn.Sequential(make_dropout(p, masks), nn.Linear(dims.audio_vec, n_classes))
                      if self.audio is not None and config.linear_audio_head and dims.audio_vec else None)
        self.head_v = _head(d, d, n_classes, p, masks) if self.video is not None else None
        if self.head_v is not None and self.prior == "residual":  # starts as the prior itself
            nn.init.zeros_(self.head_v[-1].weight)
            nn.init.zeros_(self.head_v[-1].bias)
        self.bimodal = self.audio is not None and self.video is not None and config.fused_weight > 0
        if self.bimodal:
            if config.cross_modal_attention:
                self.cma_av = CrossModalBlock(d, config.attn_dim, config.attn_heads, config.ffn_mult, p, masks)
                self.cma_va = CrossModalBlock(d, config.attn_dim, config.attn_heads, config.ffn_mult, p, masks)
                self.norm_m = nn.LayerNorm(2 * d)
            self.head_m = _head(2 * d, d, n_classes, p, masks)
            if config.reconstruction:
                self.rec_a = nn.Sequential(nn.Linear(2 * d, d), nn.GELU(), nn.Linear(d, d))
                self.rec_v = nn.Sequential(nn.Linear(2 * d, d), nn.GELU(), nn.Linear(d, d))
        # linear read-outs (models/readout.py): fitted before training, never trained by gradient; mixed into the
        # heads' probabilities in eval mode with the weight chosen on the validation clips
        self.readouts = nn.ModuleDict()
        if config.linear_readout == "select":  # "auto" is made definite by the trainer before a model is built
            a_dim = dims.audio_vec if self.audio is not None else 0
            v_dim = 2 * dims.video if self.video is not None else 0
            for name, width, head in (("audio", a_dim, self.head_a), ("video", v_dim, self.head_v),
                                      ("fused", a_dim + v_dim if self.bimodal and a_dim and v_dim else 0,
                                       getattr(self, "head_m", None))):
                if width and head is not None:
                    with torch.random.fork_rng(devices=[]):  # the network trains exactly as it would without them
                        self.readouts[name] = LinearReadout(width, n_classes)
            for p_ in self.readouts.parameters():
                p_.requires_grad_(False)
            if len(self.readouts):
                self.register_buffer("readout_weight", torch.zeros(()))

    def forward(self, batch: Batch) -> ModelOutput:
        logits, available, aux = self._heads(batch)
        if len(self.readouts) and not self.training and float(self.readout_weight) > 0:
            logits = self._mixed(logits, self.readout_logits(batch), self.readout_weight)
        return self.decide(logits, available, aux, batch.face_share)

    def forward_mixes(self, batch: Batch, weights: Sequence[float]) -> list[ModelOutput]:
        """Eval mode: the outputs with each read-out weight (each as :meth:`set_readout_weight` then
        :meth:`forward` gives it) from one pass of the network."""
        if self.training:
            return super().forward_mixes(batch, weights)
        if not len(self.readouts):  # nothing to mix
            out = self.forward(batch)
            return [out for _ in weights]
        logits, available, aux = self._heads(batch)
        readout = self.readout_logits(batch) if any(w > 0 for w in weights) else {}
        dtype = self.readout_weight.dtype
        return [self.decide(self._mixed(logits, readout, torch.tensor(float(w), dtype=dtype)) if w > 0 else logits,
                            available, aux, batch.face_share) for w in weights]

    @staticmethod
    def _mixed(logits: dict[str, torch.Tensor], readout: dict[str, tuple[torch.Tensor, torch.Tensor]],
               w: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each head's log of (1 - w) its probabilities + w its read-out's, where the clip has the read-out's
        inputs."""
        out = dict(logits)
        for head, (r, ok) in readout.items():
            if head in out:
                mixed = torch.log((1 - w) * torch.softmax(out[head], -1) + w * torch.softmax(r, -1) + 1e-12)
                out[head] = torch.where(ok.unsqueeze(-1), mixed, out[head])
        return out

    def _heads(self, batch: Batch) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor],
                                            dict[str, torch.Tensor]]:
        """The network's logits per head (read-outs not mixed in), their availability and the auxiliary
        losses."""
        logits: dict[str, torch.Tensor] = {}
        available: dict[str, torch.Tensor] = {}
        aux: dict[str, torch.Tensor] = {}
        # in eval mode, masks without a False (a single clip) are pooled as plain means: fewer operations
        a_full = v_full = False
        if self.audio is not None:
            a_tok, a_mask = self.audio(batch)
            a_full = not self.training and bool(a_mask.all())
            k = self.audio.n_vec
            if self.config.clip_vector_pooling == "separate" and k and batch.audio_vec is not None and \
                    a_tok.shape[1] > k:
                # the clip-vector tokens (first) weigh as much as all sequence tokens together
                u_a = self.norm_a(masked_mean(a_tok[:, :k], a_mask[:, :k], a_full)
                                  + masked_mean(a_tok[:, k:], a_mask[:, k:], a_full))
            else:
                u_a = self.norm_a(masked_mean(a_tok, a_mask, a_full))
            logits["audio"] = self.head_a(u_a)
            if self.lin_a is not None and batch.audio_vec is not None:
                logits["audio"] = logits["audio"] + self.lin_a(batch.audio_vec) * batch.audio_vec_mask.unsqueeze(-1)
            available["audio"] = a_mask.any(1)
        if self.video is not None:
            v_tok, v_mask = self.video(batch.video_seq, batch.video_mask)
            if batch.video_rows is not None:  # clips sharing a video (audio speed views): encoded once
                v_tok, v_mask = v_tok.index_select(0, batch.video_rows), v_mask.index_select(0, batch.video_rows)
            v_full = not self.training and bool(v_mask.all())
            if self.vvec is not None:  # u_v = clip-vector token + mean of the frame tokens ("separate" pooling)
                v_vec = self.vvec(video_functionals(batch))
                u_v = self.norm_v(v_vec + masked_mean(v_tok, v_mask, v_full))
                v_tok = torch.cat([v_vec.unsqueeze(1), v_tok], 1)
                v_mask = torch.cat([v_mask.any(1, keepdim=True), v_mask], 1)
            else:
                u_v = self.norm_v(masked_mean(v_tok, v_mask, v_full))
            logits["video"] = self.head_v(u_v)
            available["video"] = v_mask.any(1)
        log_prior = self.video_offset(batch) if self.prior != "none" else None
        if log_prior is not None:
            logits["video"] = logits["video"] + log_prior if "video" in logits else log_prior
            available["video"] = available.get("video", batch.video_prior_mask) & batch.video_prior_mask
        if self.bimodal:
            both = available["audio"] & available["video"]
            if self.config.cross_modal_attention:
                z_av = self.cma_av(a_tok, v_tok, v_mask)  # audio queries, video keys/values
                z_va = self.cma_va(v_tok, a_tok, a_mask)  # video queries, audio keys/values
                x_m = self.norm_m(torch.cat([masked_mean(z_av, a_mask, a_full),  # eq. 15
                                             masked_mean(z_va, v_mask, v_full)], -1))
            else:  # ablation "w/o CMA": concatenated unimodal representations
                x_m = torch.cat([u_a, u_v], -1)
            logits["fused"] = self.head_m(x_m)
            available["fused"] = both
            if self.config.reconstruction and self.training:  # L_REC is a training loss only
                t_a, t_v = (u_a.detach(), u_v.detach()) if self.config.detach_rec_targets else (u_a, u_v)
                err = ((self.rec_a(x_m) - t_a) ** 2).mean(1) + ((self.rec_v(x_m) - t_v) ** 2).mean(1)
                w = both.to(err.dtype)
                aux["rec"] = (err * w).sum() / w.sum().clamp_min(1.0)
        return logits, available, aux

    # --- linear read-outs ---------------------------------------------------------------------------------
    def readout_inputs(self, batch: Batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Each read-out's input and the clips that have it: ``head -> (x, available)``. The inputs are the raw clip
        functionals (``Batch.functionals``: not clipped like the network's standardised inputs; each read-out
        standardises its own), zero where absent."""
        if not len(self.readouts):
            return {}
        assert batch.functionals is not None, "batches from data.batch.collate carry the clip functionals"
        f = batch.functionals
        n_a = self.dims.audio_vec
        parts = {"audio": f[:, :n_a], "video": f[:, n_a:]}
        parts["fused"] = f
        out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for head in self.readouts:
            x = parts[head]
            ok = torch.isfinite(x).all(1)
            out[head] = (torch.nan_to_num(x, nan=0.0), ok)
        return out

    @staticmethod
    def video_offset(batch: Batch) -> torch.Tensor | None:
        """The log of the expression CNN's prior where the clip has one (zeros elsewhere), or None: the video
        head's prior (``model.video_prior``) and the video read-out's fixed offset (always)."""
        if batch.video_prior is None or batch.video_prior_mask is None:
            return None
        return torch.log(batch.video_prior) * batch.video_prior_mask.to(batch.video_prior.dtype).unsqueeze(-1)

    def readout_logits(self, batch: Batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Each read-out's logits (the video one with the log prior as offset) and availability."""
        out = {}
        for head, (x, ok) in self.readout_inputs(batch).items():
            z = self.readouts[head](x)
            off = self.video_offset(batch) if head == "video" else None
            out[head] = (z if off is None else z + off, ok)
        return out

    def readout_weights(self) -> tuple[float, ...]:
        return (1.0, 0.0, 0.5) if len(self.readouts) else ()

    def readout_c(self) -> dict[str, float]:
        return {head: float(r.c) for head, r in self.readouts.items() if bool(r.fitted)}

    def set_readout_weight(self, weight: float) -> None:
        """Weight of the read-outs' probabilities in eval mode (0: the network alone; 1: the read-outs alone)."""
        self.readout_weight.fill_(float(weight))

    def prefit(self, train: Iterable[Batch], val: Iterable[Batch] | None, n_classes: int,
               c: dict[str, float] | None = None) -> dict[str, float]:
        """Fit the linear read-outs (before training; see :mod:`avemotion.models.readout`), C per head from ``c``
        or chosen on ``val``. Returns C per head."""
        if not len(self.readouts):
            return {}
        was_training = self.training
        self.eval()

        def gather(batches: Iterable[Batch]) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
            parts: dict[str, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]] = {}
            with torch.no_grad():
                for batch in batches:
                    assert batch.labels is not None
                    for head, (x, ok) in self.readout_inputs(batch).items():
                        off = self.video_offset(batch) if head == "video" else None
                        parts.setdefault(head, []).append((x[ok], batch.labels[ok], None if off is None else off[ok]))
            out = {}
            for head, rows in parts.items():
                offs = [r[2] for r in rows]
                out[head] = (torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows]),
                             None if any(o is None for o in offs) else torch.cat(offs))  # type: ignore[arg-type]
            return out

        tr = gather(train)
        va = gather(val) if val is not None else {}
        chosen: dict[str, float] = {}
        for head, (x, y, off) in tr.items():
            if len(torch.unique(y)) < 2:
                continue  # nothing to separate: the read-out stays at zero
            weights = balanced_class_weights(y, n_classes)
            xv, yv, ov = va.get(head, (None, None, None))
            chosen[head] = fit_readout(self.readouts[head], x, y, n_classes, weights, off, xv, yv, ov,
                                       (c or {}).get(head))
        self.train(was_training)
        return chosen


def video_functionals(batch: Batch) -> torch.Tensor:
    """Mean and standard deviation of each clip's face frames (``video_seq`` rows where ``video_mask``), one row
    per clip also where clips share video rows."""
    assert batch.video_seq is not None and batch.video_mask is not None
    m = batch.video_mask.to(batch.video_seq.dtype).unsqueeze(-1)
    n = m.sum(1).clamp_min(1.0)
    mean = (batch.video_seq * m).sum(1) / n
    std = (((batch.video_seq - mean.unsqueeze(1)) ** 2 * m).sum(1) / n).clamp_min(0).sqrt()
    out = torch.cat([mean, std], -1)
    return out if batch.video_rows is None else out.index_select(0, batch.video_rows)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

