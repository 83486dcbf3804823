"""Named model variants for ``avemotion compare``: a registered model plus config overrides, never a copy.

- any registered model name (``bimodal``, ``lstm``, ``dean``) runs as configured;
- ``NAME-audio`` / ``NAME-video``: that model on one modality (``train.modality``);
- ablations of the proposed model (section "Ablations" of docs/method/baselines.md):
  ``bimodal-nocma`` (concatenation instead of cross-modal attention), ``bimodal-norec`` (no L_REC),
  ``bimodal-nodf`` (no decision-level fusion: the fused head alone), ``bimodal-noviews`` (no averaging over
  the audio speed views); fusion variants ``bimodal-late`` (no fused head), ``bimodal-reliability`` (per-clip
  confidence weights), ``bimodal-fixedweights`` / ``bimodal-chosenweights`` (eq. 19's weights as configured or
  chosen on validation speakers); ``bimodal-nomfcc`` /
  ``bimodal-noopensmile`` / ``bimodal-nosoundnet`` (one audio feature group dropped from
  ``audio.extractors``; ``FeatureSelection`` removes its columns from X^a and the clip vector).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from avemotion.config import Config
from avemotion.errors import ConfigError
from avemotion.modality import DESCRIPTIONS

#: ablation suffix -> (config overrides, description); "-no<group>" entries are filled from the base config
ABLATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "nocma": ({"model.cross_modal_attention": False}, "plain concatenation instead of cross-modal attention"),
    "norec": ({"model.reconstruction": False}, "without the reconstruction loss L_REC"),
    "nodf": ({"model.decision_fusion": False}, "without decision-level fusion (fused head only)"),
    "noviews": ({"audio.speed_views": []}, "without the audio speed views (no test-time averaging)"),
    # fusion variants (issue 27): how the fused, audio and video heads meet
    "late": ({"model.fused_weight": 0.0}, "decision-level fusion only: no fused head, audio and face meet in eq. 19"),
    "reliability": ({"model.decision_rule": "reliability"},
                    "eq. 19's weights times each head's confidence per clip (1 - normalised entropy)"),
    "fixedweights": ({"model.decision_weights": "fixed"}, "eq. 19's weights as configured (paper: 1, 0.6, 0.4)"),
    "chosenweights": ({"model.decision_weights": "chosen"},
                      "eq. 19's weights chosen on the inner folds' validation speakers"),
}
AUDIO_GROUPS = ("mfcc", "opensmile", "soundnet", "whisper")
#: the paper's own X^a (sec. 3.1.1), for the ablation "bimodal-paperxa" when the default adds extractors to it
PAPER_AUDIO = ["mfcc", "opensmile", "soundnet"]
MODALITY_SUFFIXES = DESCRIPTIONS


@dataclass
class Variant:
    name: str  # as given on the command line
    model: str  # registered model
    overrides: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def config(self, base: Config) -> Config:
        cfg = base.with_overrides({"model.name": self.model, **self.overrides})
        return cfg


def resolve_variant(name: str, base: Config) -> Variant:
    """The :class:`Variant` a ``--models`` entry names; raises ConfigError listing what is known."""
    from avemotion.models import MODELS
    from avemotion.models.classical import CLASSICAL

    name = name.strip()
    if name in CLASSICAL:
        return Variant(name, name, {}, f"{CLASSICAL.get(name).description} ({MODALITY_SUFFIXES[base.train.modality]})")
    if "-" in name and name.split("-", 1)[0] in CLASSICAL and name.split("-", 1)[1] in ("audio", "video"):
        model, suffix = name.split("-", 1)
        return Variant(name, model, {"train.modality": suffix}, f"{model}, {MODALITY_SUFFIXES[suffix]}")
    if name in MODELS:
        return Variant(name, name, {}, f"{name} ({MODALITY_SUFFIXES[base.train.modality]})")
    if "-" in name:
        model, suffix = name.split("-", 1)
        if model in MODELS:
            if suffix in ("audio", "video"):
                return Variant(name, model, {"train.modality": suffix}, f"{model}, {MODALITY_SUFFIXES[suffix]}")
            if model == "bimodal" and suffix == "paperxa":
                return Variant(name, model, {"audio.extractors": list(PAPER_AUDIO)},
                               "bimodal with the paper's original X^a (MFCC + openSMILE + SoundNet)")
            if model == "bimodal" and suffix in ABLATIONS:
                over, desc = ABLATIONS[suffix]
                return Variant(name, model, dict(over), f"bimodal {desc}")
            if model == "bimodal" and suffix.startswith("no") and suffix[2:] in AUDIO_GROUPS:
                group = suffix[2:]
                if group not in base.audio.extractors:
                    raise ConfigError(f"{name}: audio.extractors {base.audio.extractors} has no {group!r} to drop")
                kept = [e for e in base.audio.extractors if e != group]
                if not kept:
                    raise ConfigError(f"{name}: dropping {group!r} leaves no audio feature group")
                return Variant(name, model, {"audio.extractors": kept}, f"bimodal without the {group} features")
    raise ConfigError(f"unknown model or variant {name!r}; known: {', '.join(known_variants())}")


def known_variants() -> list[str]:
    from avemotion.models import MODELS
    from avemotion.models.classical import CLASSICAL

    out = list(MODELS.names()) + CLASSICAL.names() + [f"{m}-{s}" for m in CLASSICAL.names() for s in ("audio", "video")]
    out += [f"{m}-{s}" for m in MODELS.names() for s in ("audio", "video")]
    out += [f"bimodal-{s}" for s in ABLATIONS] + [f"bimodal-no{g}" for g in AUDIO_GROUPS] + ["bimodal-paperxa"]
    return out
