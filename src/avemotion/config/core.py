"""The whole configuration (:class:`Config`: ``label_set`` and the audio, video, model and train sections), its
(de)serialisation and the overrides.

Load order: defaults -> YAML file (``--config FILE``) -> ``--set section.key=value`` overrides -> dedicated
CLI flags. Every run writes the effective config (``config.yaml``) beside its outputs, with ``schema_version``;
whatever is read goes through :func:`avemotion.config.schema.migrate` first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import Field, ValidationError

from avemotion.config.audio import AudioConfig
from avemotion.config.model import ModelConfig
from avemotion.config.schema import REMOVED, SCHEMA_VERSION, migrate, upgrade_setting
from avemotion.config.section import Section
from avemotion.config.train import TrainConfig
from avemotion.config.video import VideoConfig
from avemotion.errors import ConfigError


class Config(Section):
    """Everything a command is configured by; the paper's values as defaults where it states them."""

    PAPER: ClassVar[dict[str, Any]] = {"label_set": "paper9"}
    label_set: str = Field("paper9", description="label set the corpus labels are mapped onto")
    audio: AudioConfig = Field(default_factory=AudioConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @classmethod
    def all_provenance(cls) -> dict[str, str]:
        """Dotted key (``audio.mfcc.n_mels``) -> "paper" or "ours (...)" for every setting (the docs' source)."""
        return cls.provenance()

    # --- (de)serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-able data, with the layout's ``schema_version`` first."""
        return {"schema_version": SCHEMA_VERSION, **self.model_dump(mode="json")}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        from avemotion.utils.atomic import atomic_write_text

        return atomic_write_text(path, self.to_yaml())

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config", *, saved: bool = False) -> Config:
        """The config of ``data`` in any layout (migrated; see :func:`~avemotion.config.schema.migrate` for
        ``saved``); missing settings take their defaults."""
        current = migrate(data, saved=saved)
        current.pop("schema_version")
        try:
            return cls.model_validate(current)
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
        data = migrate(data, saved=False)
        if base is not None:
            data = _merged(base.to_dict(), data)
        return cls.from_dict(data, str(path))

    def with_overrides(self, overrides: list[str] | dict[str, Any]) -> Config:
        """Apply ``section.key=value`` overrides (values parsed as YAML: ``0.5``, ``[IS09]``, ``null``). A key of
        an older layout (``audio.n_mels``) sets its current one (``audio.mfcc.n_mels``)."""
        data = self.to_dict()
        items = overrides.items() if isinstance(overrides, dict) else (_split_override(o) for o in overrides)
        for dotted, value in items:
            if dotted in REMOVED:
                raise ConfigError(f"{dotted} was removed: {REMOVED[dotted]}")
            upgraded = upgrade_setting(dotted, value)
            if upgraded is None:
                continue  # a setting that only repeated another one's value
            dotted, value = upgraded
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


def _merged(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``top``'s values, mappings merged key by key at every depth."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


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
