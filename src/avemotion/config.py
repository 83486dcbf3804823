"""Typed configuration with the paper's values as defaults.

Load order: defaults -> YAML file (``--config FILE``) -> ``--set section.key=value`` overrides -> dedicated
CLI flags. Every run writes the effective config (``config.yaml``) beside its outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from avemotion.errors import ConfigError
from avemotion.modality import Modality


class _Section(BaseModel):
    """A config section. ``PAPER`` lists the fields whose default is the paper's value; every other default is
    ours, and ``PAPER_DIFFERS`` gives the paper's value where it states one that we do not use by default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    PAPER: ClassVar[dict[str, Any]] = {}
    PAPER_DIFFERS: ClassVar[dict[str, str]] = {}

    @classmethod
    def provenance(cls) -> dict[str, str]:
        """Field -> "paper", or "ours" (with the paper's own value when it states a different one)."""
        out = {}
        for name in cls.model_fields:
            if isinstance(cls.model_fields[name].annotation, type) and issubclass(
                    cls.model_fields[name].annotation, _Section):
                continue
            if name in cls.PAPER:
                out[name] = "paper"
            elif name in cls.PAPER_DIFFERS:
                out[name] = f"ours (paper: {cls.PAPER_DIFFERS[name]})"
            else:
                out[name] = "ours"
        return out


class AudioConfig(_Section):
    PAPER: ClassVar[dict[str, Any]] = {"n_mels": 40, "frame_ms": 25.0, "hop_ms": 10.0,
                                       "opensmile_sets": ["IS09", "IS11", "IS13"], "soundnet": True}
    PAPER_DIFFERS: ClassVar[dict[str, str]] = {
        "extractors": "mfcc + opensmile + soundnet; on unseen speakers the Whisper encoder alone generalised best "
                      "(docs/method/audio.md); the paper's X^a: --set \"audio.extractors=[mfcc,opensmile,soundnet]\""}
    sample_rate: int = Field(16000, ge=8000, le=96000, description="decoding rate for MFCC/openSMILE (Hz)")
    n_mels: int = Field(40, ge=8, description="mel filters (paper: 40)")
    frame_ms: float = Field(25.0, gt=0, description="analysis frame length (paper: 25 ms)")
    hop_ms: float = Field(10.0, gt=0, description="frame shift (paper: 10 ms)")
    n_mfcc: int = Field(13, ge=1, description="cepstral coefficients kept")
    mfcc_deltas: int = Field(2, ge=0, le=2, description="0: none, 1: deltas, 2: deltas and delta-deltas")
    opensmile_sets: list[str] = Field(default_factory=lambda: ["IS09", "IS11", "IS13"])
    opensmile_lld_sets: list[str] | None = Field(
        None, description="sets whose low-level descriptors form the sequence (None: opensmile_sets)"
    )
    opensmile_lld_deltas: bool = Field(True, description="add the LLD deltas (lld_de) to the sequence")
    soundnet: bool = Field(True, description="False drops SoundNet even when listed in extractors")
    soundnet_layer: Literal["conv5", "conv6", "conv7"] = "conv7"
    soundnet_sample_rate: int = 22050
    soundnet_trainable: bool = Field(False, description="fine-tune SoundNet (end-to-end models only)")
    token_rate: float = Field(10.0, gt=0, description="frames per second of the spliced X^a sequence")
    whisper_layers: list[int] = Field(
        default_factory=lambda: [2],
        description="Whisper tiny.en encoder hidden states averaged into the 'whisper' extractor's "
                    "sequence and vector (0: input of the first block, k: output of block k, 4: final, after "
                    "the LayerNorm); 2 measured best on RAVDESS and skips blocks 3-4 (docs/method/audio.md)")
    whisper_active_db: float | None = Field(
        35.0, gt=0, description="the 'whisper' clip vector (mean + std) pools only the steps within this "
                                "many dB of the clip's loudest step (None: all steps)")
    extractors: list[str] = Field(
        default_factory=lambda: ["whisper"],
        description="registered audio extractors spliced into X^a (ours: whisper; the paper's: mfcc, opensmile, "
                    "soundnet)")
    speed_views: list[float] = Field(
        default_factory=lambda: [0.9, 1.1],
        description="playback speeds of the extra versions of every clip's audio (resampled: tempo and pitch "
                    "together) whose X^a is extracted beside the plain one; validation, test and prediction "
                    "average the model's probabilities over the plain clip and these versions (test-time "
                    "augmentation), training uses the plain clips. [] : none (one audio pass per clip). Each "
                    "version costs one more pass of the audio branch (docs/method/audio.md)")

    @field_validator("speed_views")
    @classmethod
    def _check_speeds(cls, value: list[float]) -> list[float]:
        for s in value:
            if not 0.5 <= s <= 2.0 or s == 1.0:
                raise ValueError(f"speed {s}: each speed view must lie in [0.5, 2.0] and differ from 1.0 (the "
                                 "plain clip is always used)")
        if len(set(value)) != len(value):
            raise ValueError("speed views must differ from each other")
        return [float(s) for s in value]


class VideoConfig(_Section):
    PAPER_DIFFERS: ClassVar[dict[str, str]] = {
        "fps": "not stated; its cameras record 30 fps (Table 1), we sample 15 fps to halve the cost"}
    fps: float = Field(15.0, gt=0, le=120, description="frames sampled per second")
    max_frames: int | None = Field(None, ge=1, description="cap on frames per clip (None: no cap)")
    face_crop_scale: float = Field(2.0, gt=1.0, description="square crop size relative to the face box")
    min_detection_confidence: float = Field(0.5, ge=0, le=1)
    expression_cnn: bool = True
    extractors: list[str] = Field(default_factory=lambda: ["face"])
    redetect_seconds: float = Field(1.0, gt=0, description="face re-detection period (s)")
    mesh_input_side: int = Field(256, ge=128, description="max crop side fed to FaceMesh")
    cnn_batch: int = Field(16, ge=1, description="aligned faces per expression-CNN batch")
    require_face: bool = Field(False, description="raise NoFaceFound for a faceless clip (else all masked)")


class ModelConfig(_Section):
    PAPER: ClassVar[dict[str, Any]] = {"rnn_hidden": 128, "lstm_hidden": 256, "proj_dim": 128, "attn_dim": 64,
                                       "beta": 0.6, "chi": 0.4, "reconstruction": True, "name": "bimodal",
                                       "cross_modal_attention": True, "decision_fusion": True, "rec_weight": 1.0,
                                       "fused_weight": 1.0}
    PAPER_DIFFERS: ClassVar[dict[str, str]] = {
        "loss": "l1 (eq. 20); cross-entropy trained better in our measurements, see docs/method/model.md"}
    name: str = "bimodal"
    rnn_hidden: int = Field(128, ge=1, description="video RNN hidden units (paper: 128)")
    lstm_hidden: int = Field(256, ge=1, description="video LSTM units (paper: 256)")
    proj_dim: int = Field(128, ge=1, description="common projection space d_u (paper: 128)")
    attn_dim: int = Field(64, ge=1, description="cross-modal attention dimension d (paper: 64)")
    attn_heads: int = Field(1, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    beta: float = Field(0.6, ge=0, description="weight of the audio prediction in decision fusion (eq. 19)")
    chi: float = Field(0.4, ge=0, description="weight of the video prediction in decision fusion (eq. 19)")
    fused_weight: float = Field(1.0, ge=0, description="weight of the fused prediction in decision fusion (eq. 19: "
                                "1); 0 builds no fused head: audio and video meet at decision level only, for "
                                "training data with few or no clips that have both")
    video_prior: Literal["none", "residual", "zero_shot"] = Field(
        "none", description="the pretrained expression CNN's class probabilities, mapped onto the labels, as the video "
        "head's prior: residual (the head learns a correction to it, starting at zero: small face data cannot "
        "fall far below the CNN zero-shot) or zero_shot (the prior alone, no learned video head)")
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
        "(wide & deep: the linear probe that works best on pretrained encoder features, plus the network)")
    linear_readout: Literal["auto", "none", "select"] = Field(
        "select", description="select (default): before training, fit a logistic regression on each head's clip "
        "functionals (audio clip vector, face frames' mean/std, both for the fused head; L-BFGS, balanced, C on the "
        "validation clips); the kept model is the best on the validation clips of the read-outs alone and, per "
        "epoch, the network alone or the average of both (models/readout.py). none: the paper's network alone. "
        "auto: select only when some class has fewer than 10 training clips in a fold, else none")
    detach_rec_targets: bool = Field(True, description="reconstruct stop-gradient unimodal representations")
    ffn_mult: int = Field(2, ge=1, description="feed-forward width of the attention blocks, x proj_dim")


class TrainConfig(_Section):
    PAPER: ClassVar[dict[str, Any]] = {"split": "8:1:1", "folds": 5}
    PAPER_DIFFERS: ClassVar[dict[str, str]] = {
        "scheme": "8:1:1 random split and 5-fold cross-validation, speakers not said to be grouped"}
    split: str = Field("8:1:1", description="train:validation:test ratios for the random split")
    folds: int = Field(5, ge=2, description="k of k-fold cross-validation (paper: 5)")
    scheme: Literal["kfold", "split", "logo"] = Field(
        "kfold",
        description="kfold: (speaker-grouped) stratified k-fold; split: random 8:1:1; logo: leave one speaker out")
    group_by_speaker: bool = True
    group_by: str = Field("auto", description='grouping unit of folds: "auto" (the corpus\'s protocol: session for '
                          'IEMOCAP, speaker otherwise), "speaker", or a corpus field such as "session"')
    normalize: Literal["global", "speaker", "recording"] = Field(
        "global", description="feature normalisation before the model's own standardisation: global (training "
        "statistics only), speaker (each speaker's own clips, no labels used) or recording (each source recording)")
    train_per_class: int | None = Field(
        None, ge=1, description="small-data setting (learning curves): keep at most this many training clips per class "
        "in each fold, which also serve as the validation clips; test folds unchanged")
    val_fraction: float = Field(0.1, gt=0, lt=0.5, description="validation share carved from the training folds")
    modality: Modality = Field("av", description="inputs the model uses (ours: the paper uses both)")
    final_model: Literal["all", "best_fold"] = Field(
        "all", description="model kept for prediction: retrained on all clips, or the best fold's")
    max_abs_z: float = Field(10.0, gt=0, description="standardised features are clipped to +-max_abs_z")
    epochs: int = Field(60, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    patience: int = Field(10, ge=1, description="early stopping on validation UA")
    checkpoint_seconds: float = Field(30.0, ge=0, description="save the resumable training state at most this "
                                      "often (0: every epoch); an interrupted run also saves at once")
    seed: int = 0
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="balanced: weight each clip's loss by n / (C n_c) of its class (rare classes count as "
        "much as frequent ones, as the classical baselines' class_weight='balanced')")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="cross-entropy against (1 - e) one-hot + e uniform "
                                   "(0: off)")
    mixup: float = Field(0.0, ge=0, description="mixup alpha (0: off): train on convex mixtures of two clips' inputs "
                         "and labels, weight ~ Beta(alpha, alpha)")
    refit: bool = Field(
        True, description="in each fold, after early stopping picked the epoch on the validation clips, train again "
        "on training + validation clips for that many epochs and test that model (as the classical baselines refit "
        "with the C they chose). With train.inner_folds >= 2 the fold's model is always trained on both")
    readout_margin: float = Field(
        0.0, ge=0, description="with model.linear_readout=select, an epoch of the network (alone or averaged with the "
        "read-outs) replaces the read-outs alone only when its validation UA beats theirs by more than this many "
        "standard errors of the paired difference on the same validation clips (0: any better UA wins; only with "
        "train.inner_folds 0 or 1). A margin "
        "favours the read-outs: on RAVDESS speech 2 gained 0.8 UA points, on the synthetic demo it cost 6.7 "
        "(docs/method/model.md)")
    inner_folds: int = Field(
        3, ge=0, le=10, description="k >= 2 (ours): each fold chooses its epoch count and, with read-outs, the "
        "read-outs or the network (alone or averaged) on k speaker-grouped inner folds of its training + validation "
        "clips: a model is trained on each inner training part, the choice is made on all their validation answers "
        "pooled (every training speaker judges once; the read-outs stay unless the network beats them "
        "cross-fitted), and the fold's model is then trained on training + validation clips with it. About k/2 "
        "times the training time of 0 or 1: the choice on the fold's one validation part, then the refit "
        "(train.refit), as before (docs/method/model.md)")
    ensemble: int = Field(1, ge=1, le=16, description="members trained with different seeds for every fold and for "
                          "the final model; their probabilities are averaged (1: a single model, as in the paper)")
    threads: int = Field(1, ge=0, description="torch threads while training (0: library default). The models are "
                         "small: one thread is about as fast on an idle machine and far faster on a busy one, where "
                         "OpenMP threads spin against other processes")

    @field_validator("split")
    @classmethod
    def _check_split(cls, value: str) -> str:
        parts = value.split(":")
        if len(parts) != 3 or not all(p.strip().replace(".", "", 1).isdigit() for p in parts):
            raise ValueError("split must look like 8:1:1")
        if sum(float(p) for p in parts) <= 0:
            raise ValueError("split ratios must not all be zero")
        return value

    def split_ratios(self) -> tuple[float, float, float]:
        parts = [float(p) for p in self.split.split(":")]
        total = sum(parts)
        return (parts[0] / total, parts[1] / total, parts[2] / total)


class Config(_Section):
    PAPER: ClassVar[dict[str, Any]] = {"label_set": "paper9"}
    label_set: str = "paper9"
    audio: AudioConfig = Field(default_factory=AudioConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @classmethod
    def all_provenance(cls) -> dict[str, str]:
        """``section.key`` -> "paper" or "ours (...)" for every setting (the README's and docs' source)."""
        out = dict(cls.provenance())
        for section, model in (("audio", AudioConfig), ("video", VideoConfig), ("model", ModelConfig),
                               ("train", TrainConfig)):
            out.update({f"{section}.{k}": v for k, v in model.provenance().items()})
        return out

    # --- (de)serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        from avemotion.utils.atomic import atomic_write_text

        return atomic_write_text(path, self.to_yaml())

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> Config:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_format_validation(exc), source) from None

    @classmethod
    def from_yaml(cls, path: str | Path, base: Config | None = None) -> Config:
        """The file's settings over ``base``'s (default: the defaults); sections merge key by key."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError("config file not found", path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", path) from None
        if not isinstance(data, dict):
            raise ConfigError("top level of a config file must be a mapping", path)
        if base is not None:
            merged = base.to_dict()
            for key, value in data.items():
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
            data = merged
        return cls.from_dict(data, str(path))

    def with_overrides(self, overrides: list[str] | dict[str, Any]) -> Config:
        """Apply ``section.key=value`` overrides (values parsed as YAML: ``0.5``, ``[IS09]``, ``null``)."""
        data = self.to_dict()
        items = overrides.items() if isinstance(overrides, dict) else (_split_override(o) for o in overrides)
        for dotted, value in items:
            node = data
            keys = dotted.split(".")
            for key in keys[:-1]:
                if key not in node or not isinstance(node[key], dict):
                    raise ConfigError(f"unknown config section {key!r} in override {dotted!r}")
                node = node[key]
            if keys[-1] not in node:
                raise ConfigError(
                    f"unknown config key {dotted!r}; known here: {', '.join(sorted(node))}"
                )
            node[keys[-1]] = value
        return Config.from_dict(data, "overrides")


def _split_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "invalid configuration: " + "; ".join(parts)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                base: Config | None = None) -> Config:
    """``base`` (default: the defaults) <- the YAML file <- the overrides."""
    config = Config.from_yaml(path, base) if path else (base or Config())
    return config.with_overrides(overrides) if overrides else config
