"""Settings of training: folds, optimisation, model selection."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from avemotion.config.section import Section
from avemotion.modality import Modality


class TrainConfig(Section):
    """How a model is trained and evaluated: the folds, the optimiser, early stopping and model selection."""

    PAPER: ClassVar[dict[str, Any]] = {"split": "8:1:1", "folds": 5}
    PAPER_DIFFERS: ClassVar[dict[str, str]] = {
        "scheme": "8:1:1 random split and 5-fold cross-validation, speakers not said to be grouped"}
    split: str = Field("8:1:1", description="train:validation:test ratios for the random split")
    folds: int = Field(5, ge=2, description="k of k-fold cross-validation (paper: 5)")
    scheme: Literal["kfold", "split", "logo"] = Field(
        "kfold", description="kfold: (speaker-grouped) stratified k-fold; split: random 8:1:1; logo: leave one "
        "speaker out")
    group_by: str = Field(
        "auto", description='grouping unit of folds: "auto" (the corpus\'s protocol: session for IEMOCAP, speaker '
        'otherwise), "speaker", a corpus field such as "session", or "none": k-fold folds (and their validation '
        'parts) ignore speakers; leave-one-out and inner folds still group by the corpus\'s protocol')
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
    length_buckets: int = Field(
        0, ge=0, description="batch clips of similar length together (less padding): the shuffled training clips "
        "taken this many batches at a time, sorted by length within each group, and the batches shuffled "
        "(data/batch.py: bucketed); 0: plain shuffled batches")
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
        "train.inner_folds 0 or 1). A margin favours the read-outs")
    inner_folds: int = Field(
        3, ge=0, le=10, description="k >= 2 (ours): each fold chooses its epoch count and, with read-outs, the "
        "read-outs or the network (alone or averaged) on k speaker-grouped inner folds of its training + validation "
        "clips: a model is trained on each inner training part, the choice is made on all their validation answers "
        "pooled (every training speaker judges once; the read-outs stay unless the network beats them "
        "cross-fitted), and the fold's model is then trained on training + validation clips with it. 0 or 1: "
        "the choice on the fold's one validation part, then the refit (train.refit)")
    ensemble: int = Field(1, ge=1, le=16, description="members trained with different seeds for every fold and for "
                          "the final model; their probabilities are averaged (1: a single model, as in the paper)")
    threads: int = Field(1, ge=0, description="torch threads while training (0: library default)")

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
