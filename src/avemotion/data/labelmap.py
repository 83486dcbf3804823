"""Label mapping: a corpus's native labels onto another label set (e.g. the paper's nine emotions).

A mapping is a YAML file::

    target: paper9            # a registered label set, or a list of labels
    map: {neutral: trust, happy: joy, ...}

Built-in mappings (``avemotion/data/mappings/*.yaml``) can be named instead of a path, e.g.
``ravdess_to_paper9``. Labels without a mapping are an error naming the clip, or dropped and counted when
``drop_unmapped`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from avemotion.data.manifest import ClipRecord
from avemotion.errors import ConfigError, UnknownLabel
from avemotion.labels import LabelSet, get_label_set

BUILTIN_DIR = Path(__file__).parent / "mappings"


@dataclass(frozen=True)
class LabelMapping:
    target: LabelSet
    mapping: dict[str, str]
    source: str = ""

    @classmethod
    def load(cls, name_or_path: str | Path) -> LabelMapping:
        path = Path(name_or_path)
        if not path.is_file():
            builtin = BUILTIN_DIR / f"{name_or_path}.yaml"
            if not builtin.is_file():
                known = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")))
                raise ConfigError(f"label mapping not found (a YAML file, or one of: {known})", path)
            path = builtin
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", path) from None
        if not isinstance(data, dict) or "target" not in data or not isinstance(data.get("map"), dict):
            raise ConfigError("a label mapping needs `target:` and a `map:` of source: target labels", path)
        target = data["target"]
        if isinstance(target, list):
            label_set = LabelSet(name=path.stem, labels=tuple(str(t).lower() for t in target))
        else:
            try:
                label_set = get_label_set(str(target))
            except KeyError as exc:
                raise ConfigError(str(exc.args[0]), path) from None
        mapping = {}
        for src, dst in data["map"].items():
            if dst is None:
                continue
            norm = label_set.normalise(str(dst), strict=False)
            if norm is None:
                raise ConfigError(f"maps {src!r} to {dst!r}, which is not in {label_set.name}", path)
            mapping[str(src).strip().lower()] = norm
        return cls(label_set, mapping, str(path))

    def apply(self, records: list[ClipRecord], drop_unmapped: bool = False) -> tuple[list[ClipRecord], dict[str, int]]:
        """Mapped records, and the count of dropped clips per unmapped label."""
        out, dropped = [], {}
        for rec in records:
            target = self.mapping.get(rec.label.lower())
            if target is None:
                if drop_unmapped:
                    dropped[rec.label] = dropped.get(rec.label, 0) + 1
                    continue
                raise UnknownLabel(
                    f"label {rec.label!r} has no mapping in {self.source} onto {self.target.name}; add it to the "
                    "mapping or pass --drop-unmapped",
                    rec.audio_path or rec.video_path or rec.clip_id,
                )
            out.append(replace(rec, label=target, extra={**rec.extra, "native_label": rec.label}))
        return out, dropped


def check_labels(records: list[ClipRecord], label_set: LabelSet) -> None:
    """Every record's label must be in ``label_set`` (raises UnknownLabel naming the clip)."""
    for rec in records:
        label_set.normalise(rec.label, source=rec.audio_path or rec.video_path or rec.clip_id)
