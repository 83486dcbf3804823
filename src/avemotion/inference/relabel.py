"""Predictions reported in another label set, through a built-in label mapping (``data/mappings/*.yaml``).

A model trained on label set S answers in S; ``--labels T`` (``labels=T`` in the Python API) reports the
same answer in T through the mapping ``S_to_T``: the probability of a target class is the sum of the
probabilities of the source classes mapped onto it (a target class no source maps to gets 0), the emotion is
the argmax after mapping, and the per-head probabilities are mapped the same way. The contributions of the
fused / audio / video heads are recomputed for the new predicted class from the heads' fusion weights:
``w_h P_h[K] / sum_h' w_h' P_h'[K]`` with ``P_h[K]`` the head's mapped probability.

This is the one place that maps probabilities; the CLI, the Python API and timelines all use it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from avemotion.data.labelmap import BUILTIN_DIR, LabelMapping
from avemotion.errors import ConfigError
from avemotion.inference.predict import Prediction
from avemotion.inference.timeline import WindowPrediction
from avemotion.labels import get_label_set, label_set_names


@dataclass(frozen=True)
class Relabeller:
    """Maps probabilities over ``source_labels`` (the model's, in its order) onto ``target_labels``."""

    source: str  # the model's label set
    target: str  # the reported label set
    source_labels: tuple[str, ...]
    target_labels: tuple[str, ...]
    mapping: dict[str, str]  # source label -> target label, one per source label
    mapping_file: str = ""

    def probabilities(self, probs: dict[str, float]) -> dict[str, float]:
        out = dict.fromkeys(self.target_labels, 0.0)
        for label, p in probs.items():
            out[self.mapping[label]] += float(p)
        return out

    def prediction(self, pred: Prediction) -> Prediction:
        probs = self.probabilities(pred.probabilities)
        emotion = max(self.target_labels, key=lambda lab: probs[lab])  # first of ties, as argmax
        heads = {h: self.probabilities(p) for h, p in pred.heads.items()}
        contributions = pred.contributions
        if pred.weights and heads:
            parts = {h: pred.weights.get(h, 0.0) * heads[h][emotion] if h in heads else 0.0
                     for h in pred.contributions}
            total = sum(parts.values())
            if total > 0:
                contributions = {h: v / total for h, v in parts.items()}
        extra = {**pred.extra, "label_set": self.target, "mapped_from": self.source}
        return replace(pred, emotion=emotion, confidence=probs[emotion], probabilities=probs, heads=heads,
                       contributions=contributions, extra=extra)

    def window(self, w: WindowPrediction) -> WindowPrediction:
        return w if w.prediction is None else replace(w, prediction=self.prediction(w.prediction))


def available_mappings(source: str | None = None) -> list[str]:
    """Names of the built-in mappings (those from ``source``'s label set when given)."""
    names = sorted(p.stem for p in BUILTIN_DIR.glob("*_to_*.yaml"))
    if source is None:
        return names
    return [n for n in names if n.split("_to_")[0] in _prefixes(source)]


def _prefixes(label_set: str) -> tuple[str, ...]:
    """Mapping-name prefixes of a label set: its name, and its name without a trailing class count (ravdess8 ->
    ravdess, as the corpus mappings are named)."""
    bare = label_set.rstrip("0123456789")
    return (label_set, bare) if bare and bare != label_set else (label_set,)


def model_label_set(labels: list[str] | tuple[str, ...], *hints: str | None) -> str | None:
    """The name of the label set a model's ``labels`` belong to: the first of ``hints`` (a bundled model's card,
    the run's config) or of the registered label sets that has exactly these labels; a card's hint is trusted
    as is when no registered set has that name; None when nothing fits."""
    wanted = set(labels)
    for name in [h for h in hints if h] + label_set_names():
        try:
            if set(get_label_set(name).labels) == wanted:
                return name
        except KeyError:
            continue
    return next((h for h in hints[:1] if h), None)


def relabeller(source_labels: list[str] | tuple[str, ...], source: str | None, target: str) -> Relabeller | None:
    """The relabeller from a model's labels (label set ``source``) to label set ``target`` (a built-in mapping
    ``<source>_to_<target>``, or a mapping YAML file); None when ``target`` is the model's own label set.
    :class:`ConfigError` when there is no such mapping (listing those there are) or it leaves a label unmapped."""
    if source is not None and target == source:
        return None
    path = Path(target)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        mapping = LabelMapping.load(path)
    else:
        if source is None:
            raise ConfigError(f"cannot report in {target!r}: the model's labels ({', '.join(source_labels)}) are not "
                              "a known label set; give a mapping YAML file instead (target: ..., map: ...)")
        names = [f"{p}_to_{target}" for p in _prefixes(source)]
        name = next((n for n in names if (BUILTIN_DIR / f"{n}.yaml").is_file()), None)
        if name is None:
            there = available_mappings(source)
            targets = ", ".join(n.split("_to_", 1)[1] for n in there) or "none"
            raise ConfigError(f"no built-in label mapping {names[0]} for this model (label set {source}); it can "
                              f"report in: {source} (its own), {targets}"
                              + (f" (mappings: {', '.join(there)})" if there else ""))
        mapping = LabelMapping.load(name)
    own: dict[str, str] = {}
    for label in source_labels:
        dst = mapping.mapping.get(label.strip().lower())
        if dst is None:
            raise ConfigError(f"label mapping {Path(mapping.source).stem} does not map the model's label {label!r}",
                              mapping.source)
        own[label] = dst
    return Relabeller(source or "model", mapping.target.name, tuple(source_labels), mapping.target.labels, own,
                      mapping.source)
