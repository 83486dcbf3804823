"""Settings of the model: architecture, fusion, losses and the linear read-outs."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from avemotion.config.section import Section


class ModelConfig(Section):
    """The model named by ``name`` (a registered model) and its settings. One flat section: the registered models
    share the architecture settings (``lstm`` and ``dean`` read ``proj_dim``, ``attn_dim``, ``attn_heads``,
    ``dropout``, ``ffn_mult``, ``clip_vector``), so a section per model would repeat them, and subsections per
    part of the bimodal model would split settings that one builder reads together."""

    PAPER: ClassVar[dict[str, Any]] = {"rnn_hidden": 128, "lstm_hidden": 256, "proj_dim": 128, "attn_dim": 64,
                                       "beta": 0.6, "chi": 0.4, "reconstruction": True, "name": "bimodal",
                                       "cross_modal_attention": True, "decision_fusion": True, "rec_weight": 1.0,
                                       "fused_weight": 1.0}
    PAPER_DIFFERS: ClassVar[dict[str, str]] = {
        "loss": "l1 (eq. 20)"}
    name: str = Field("bimodal", description="registered model to train (avemotion models lists them)")
    rnn_hidden: int = Field(128, ge=1, description="video RNN hidden units (paper: 128)")
    lstm_hidden: int = Field(256, ge=1, description="video LSTM units (paper: 256)")
    proj_dim: int = Field(128, ge=1, description="common projection space d_u (paper: 128)")
    video_pool: int = Field(3, ge=1, description="face frames averaged into one step of the video RNN/LSTM "
                            "(ours; 1: every sampled frame is a step)")
    attn_dim: int = Field(64, ge=1, description="cross-modal attention dimension d (paper: 64)")
    attn_heads: int = Field(1, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    dropout_masks: Literal["fast", "torch"] = Field(
        "torch", description="how training draws dropout masks on CPU: torch (its own dropout) or fast (16-bit "
        "numbers from numpy's PCG64, seeded from torch's generator: about half the cost; models/dropout.py; "
        "measured in docs/experiments/2026-12-06-cheaper-training-steps.md); other devices always use torch's")
    beta: float = Field(0.6, ge=0, description="weight of the audio prediction in decision fusion (eq. 19)")
    chi: float = Field(0.4, ge=0, description="weight of the video prediction in decision fusion (eq. 19)")
    fused_weight: float = Field(1.0, ge=0, description="weight of the fused prediction in decision fusion (eq. 19: "
                                "1); 0 builds no fused head: audio and video meet at decision level only, for "
                                "training data with few or no clips that have both")
    video_prior: Literal["none", "residual", "zero_shot"] = Field(
        "none", description="the pretrained expression CNN's class probabilities, mapped onto the labels, as the video "
        "head's prior: residual (the head learns a correction to it, starting at zero, so it starts from "
        "the CNN's zero-shot answer) or zero_shot (the prior alone, no learned video head)")
    decision_rule: Literal["linear", "reliability", "max_confidence"] = Field(
        "linear", description="per-clip weights of decision fusion (models/decision.py): linear (eq. 19's fixed "
        "weights), reliability (each weight times its head's confidence, 1 - normalised entropy) or "
        "max_confidence (the head with the highest top probability alone)")
    decision_weights: Literal["fixed", "chosen"] = Field(
        "fixed", description="eq. 19's weights at prediction: fixed (fused_weight, beta, chi as set) or chosen "
        "on the validation speakers' answers (the inner folds'; training/selection.py: choose_decision_weights) "
        "from a small grid of beta and chi, kept only where they beat the set ones cross-fitted; training is "
        "the same either way")
    head_calibration: Literal["none", "validation"] = Field(
        "validation", description="validation: each head's probabilities are temperature-scaled before eq. 19, the "
        "temperatures fitted on the validation speakers' answers (the inner folds'; training/fusion.py), so a head "
        "that is sure and often wrong (a face head on few speakers) no longer outweighs the others; none: as "
        "trained. Training is the same either way")
    face_share_weighting: bool = Field(
        True, description="in eval mode the fused and video heads' weights in eq. 19 are multiplied by the share of "
        "the clip's frames with a face, so a face seen in a few frames weighs little against the voice (false: "
        "as the paper, every available head at its full weight)")
    reconstruction: bool = True
    cross_modal_attention: bool = True
    decision_fusion: bool = True
    loss: Literal["ce", "l1"] = Field("ce", description="classification loss: cross-entropy or the paper's L1 (eq. 20)")
    rec_weight: float = Field(1.0, ge=0, description="weight of L_REC in the total loss (eq. 21: 1)")
    unimodal_weight: float = Field(1.0, ge=0, description="M_S of eq. 20: weight of each unimodal head's loss")
    clip_vector: bool = Field(True, description="use the audio clip vector as an extra audio token")
    clip_vector_pooling: Literal["token", "separate"] = Field(
        "separate", description="u_a pools the clip-vector token with the sequence tokens (token) or adds it to their "
        "mean (separate: the clip's functionals weigh as much as the whole sequence)")
    clip_vector_tokens: Literal["one", "per_group"] = Field(
        "one", description="the clip vector as one token (one projection of all functionals) or one token per "
        "feature group (MFCC statistics, each openSMILE set, SoundNet, Whisper), so no group drowns the others")
    video_clip_vector: bool = Field(
        False, description="add the face frames' mean and std (projected) as one more video token and to u_v, as "
        "the audio clip vector (the functionals the classical baselines use)")
    linear_audio_head: bool = Field(
        False, description="add a linear classifier on the standardised audio clip vector to the audio head's logits "
        "(wide & deep: a linear probe plus the network)")
    linear_readout: Literal["auto", "none", "select"] = Field(
        "select", description="select (default): before training, fit a logistic regression on each head's clip "
        "functionals (audio clip vector, face frames' mean/std, both for the fused head; L-BFGS, balanced, C on the "
        "validation clips); the kept model is the best on the validation clips of the read-outs alone and, per "
        "epoch, the network alone or the average of both (models/readout.py). none: the paper's network alone. "
        "auto: select only when some class has fewer than 10 training clips in a fold, else none")
    detach_rec_targets: bool = Field(True, description="reconstruct stop-gradient unimodal representations")
    ffn_mult: int = Field(2, ge=1, description="feed-forward width of the attention blocks, x proj_dim")
