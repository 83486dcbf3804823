"""The saved config's layout versions, the migrations between them, and the frozen view hashes are computed from.

Every saved config (a run's ``config.yaml``, a model bundle's ``config``, a feature store's ``config``) carries
``schema_version``. The layouts:

- 0: flat sections, saved before ``model.linear_readout`` and ``audio.speed_views`` existed; the models then had
  no read-outs and predictions no speed views.
- 1: flat sections (``audio.n_mels``, ``video.cnn_batch``, ...), with ``audio.soundnet_trainable`` (read nowhere)
  and ``train.group_by_speaker`` beside ``train.group_by``. Neither 0 nor 1 wrote ``schema_version``.
- 2: each registered extractor's settings in a section of its name (``audio.mfcc.n_mels``,
  ``video.face.cnn_batch``); ``train.group_by: none`` instead of ``group_by_speaker: false``.
- 3: as 2; written after the default of ``model.video_pool`` became 3 (every frame was a step of the
  video recurrences before: 1).
- 4 (current): as 3; written after the default of ``model.head_calibration`` became ``validation`` (the heads
  met in eq. 19 as trained before: ``none``) and ``model.face_share_weighting`` true (before: false).

:func:`migrate` turns any of them into the current layout. A saved config without ``schema_version`` is taken to
be 0 (a setting it lacks gets the value that rebuilds what was saved); a config file a user wrote (partial: a
missing setting means the default) without one is taken to be 1, whose steps only move the keys they find and
fill no setting, so a file in the current layout passes unchanged. A setting whose default changed is filled
with its old default in what avemotion wrote (``saved``, a file that states its ``schema_version``, or one whose
``model`` section lists every layout-1 setting: a run's ``config.yaml``), never in a user's partial file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from avemotion.config.model import ModelConfig
from avemotion.config.section import Section
from avemotion.errors import ConfigError

SCHEMA_VERSION = 4

#: layout-1 key -> layout-2 key, for the settings that moved into their extractor's section
MOVED: dict[str, str] = {
    "audio.n_mels": "audio.mfcc.n_mels",
    "audio.frame_ms": "audio.mfcc.frame_ms",
    "audio.hop_ms": "audio.mfcc.hop_ms",
    "audio.n_mfcc": "audio.mfcc.n_mfcc",
    "audio.mfcc_deltas": "audio.mfcc.deltas",
    "audio.opensmile_sets": "audio.opensmile.sets",
    "audio.opensmile_lld_sets": "audio.opensmile.lld_sets",
    "audio.opensmile_lld_deltas": "audio.opensmile.lld_deltas",
    "audio.soundnet": "audio.soundnet.enabled",  # (a bool in layout 1; in layout 2 the section's name)
    "audio.soundnet_layer": "audio.soundnet.layer",
    "audio.soundnet_sample_rate": "audio.soundnet.sample_rate",
    "audio.whisper_layers": "audio.whisper.layers",
    "audio.whisper_active_db": "audio.whisper.active_db",
    "video.face_crop_scale": "video.face.crop_scale",
    "video.min_detection_confidence": "video.face.min_detection_confidence",
    "video.expression_cnn": "video.face.expression_cnn",
    "video.redetect_seconds": "video.face.redetect_seconds",
    "video.mesh_input_side": "video.face.mesh_input_side",
    "video.cnn_batch": "video.face.cnn_batch",
}
#: layout-1 keys layout 2 does not have, and why
REMOVED: dict[str, str] = {"audio.soundnet_trainable": "it was read nowhere (SoundNet is never fine-tuned)"}
#: the value ``train.group_by`` takes for layout 1's ``train.group_by_speaker: false``
UNGROUPED = "none"


def upgrade_setting(dotted: str, value: Any) -> tuple[str, Any] | None:
    """The layout-2 key and value of one layout-1 setting (``("audio.mfcc.n_mels", 30)`` for ``audio.n_mels``);
    a key that did not change comes back as it is; None: the setting has no layout-2 counterpart (it is dropped:
    :data:`REMOVED`, or ``group_by_speaker: true``, which only repeated ``group_by``)."""
    if dotted == "audio.soundnet" and isinstance(value, dict):
        return dotted, value  # already the layout-2 section
    if dotted in MOVED:
        return MOVED[dotted], value
    if dotted == "train.group_by_speaker":
        return None if value else ("train.group_by", UNGROUPED)
    if dotted in REMOVED:
        return None
    return dotted, value


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    node = data
    for key in path:
        child = node.get(key)
        if not isinstance(child, dict):
            node[key] = child = {}
        node = child
    node[last] = value


def _v0_to_v1(data: dict[str, Any], written: bool) -> dict[str, Any]:
    """Settings added in layout 1 get the values that rebuild a layout-0 model: no read-outs, no speed views."""
    for section, key, value in (("model", "linear_readout", "none"), ("audio", "speed_views", [])):
        if isinstance(data.get(section), dict):
            data[section].setdefault(key, value)
    return data


def _v1_to_v2(data: dict[str, Any], written: bool) -> dict[str, Any]:
    """Moves each layout-1 key found (:func:`upgrade_setting`); the others stay where they are."""
    for section in ("audio", "video", "train"):
        node = data.get(section)
        if not isinstance(node, dict):
            continue
        moves = []
        for key, value in list(node.items()):
            new = upgrade_setting(f"{section}.{key}", value)
            if new != (f"{section}.{key}", value):
                del node[key]
                moves.append(new)
        for move in moves:
            if move is not None:
                _set(data, *move)
    return data


def _complete_model_section(data: dict[str, Any]) -> bool:
    """``data``'s ``model`` section lists every setting layout 1 had: a config avemotion wrote (a run's
    ``config.yaml`` from before ``schema_version``), not a user's partial file."""
    model = data.get("model")
    later = {key for section, key in ADDED_AFTER_LAYOUT_1 if section == "model"}
    return isinstance(model, dict) and set(ModelConfig.model_fields) - later <= set(model)


#: layout -> the settings whose default changed with it, at the value every config written before had
OLD_DEFAULTS: dict[int, dict[tuple[str, str], Any]] = {3: {("model", "video_pool"): 1},
                                                       4: {("model", "head_calibration"): "none",
                                                           ("model", "face_share_weighting"): False}}


def _keep_old_defaults(layout: int) -> Callable[[dict[str, Any], bool], dict[str, Any]]:
    """The step into ``layout``: a config avemotion wrote before it keeps the old defaults of
    :data:`OLD_DEFAULTS` [layout] (its model was trained with them); a user's partial file is left as it is (a
    missing setting means today's default)."""

    def step(data: dict[str, Any], written: bool) -> dict[str, Any]:
        if written:
            for (section, key), value in OLD_DEFAULTS[layout].items():
                if isinstance(data.get(section), dict):
                    data[section].setdefault(key, value)
        return data

    return step


#: step i turns layout i into layout i + 1; ``written``: avemotion wrote the config (see the module's text)
STEPS: tuple[Callable[[dict[str, Any], bool], dict[str, Any]], ...] = (
    _v0_to_v1, _v1_to_v2, _keep_old_defaults(3), _keep_old_defaults(4))


def migrate(data: dict[str, Any], *, saved: bool = True) -> dict[str, Any]:
    """A copy of ``data`` (a whole config, or some of its sections) in the current layout, with
    ``schema_version``. ``saved``: ``data`` was written by avemotion (without ``schema_version``: layout 0); else
    it is a user's file (without one: layout 1)."""
    out = copy.deepcopy(data)
    version = out.pop("schema_version", None)
    written = saved or version is not None or _complete_model_section(out)
    if version is None:
        version = 0 if saved else 1
    if not isinstance(version, int) or not 0 <= version <= SCHEMA_VERSION:
        raise ConfigError(f"schema_version {version!r} is not one this avemotion reads (0..{SCHEMA_VERSION}); "
                          "a newer avemotion wrote it?")
    for step in STEPS[version:]:
        out = step(out, written)
    return {"schema_version": SCHEMA_VERSION, **out}


#: layout-2 key -> layout-1 key (the inverse of :data:`MOVED`)
_V1_NAMES = {new: old for old, new in MOVED.items()}


#: settings added after layout 1 -> the value that behaves as before they existed; ``hash_view`` leaves a
#: setting out while it holds that value
ADDED_AFTER_LAYOUT_1: dict[tuple[str, str], Any] = {("model", "decision_rule"): "linear",
                                                     ("model", "video_pool"): 1,
                                                     ("model", "decision_weights"): "fixed",
                                                     ("model", "head_calibration"): "none",
                                                     ("model", "face_share_weighting"): False,
                                                     ("model", "dropout_masks"): "torch",
                                                     ("train", "length_buckets"): 0,
                                                     ("video", "groups"): None}
#: settings of the audio/video sections that select stored features rather than extract them: left out of the
#: feature-store hash (a store holds every group), part of the run hashes
SELECTION_ONLY: tuple[tuple[str, str], ...] = (("video", "groups"),)


def hash_view(config: Section) -> dict[str, dict[str, Any]]:
    """The :class:`~avemotion.config.Config`'s ``audio``, ``video``, ``model`` and ``train`` sections as layout 1
    wrote them: the payload feature-store config hashes (hence clip keys) and run hashes are computed from.

    This view must never change: a store or run folder is found again only while its hash is the same. Each
    layout-2 setting appears under its layout-1 name, ``audio.soundnet_trainable`` as the false it always was,
    ``train.group_by: none`` as ``group_by_speaker: false`` with ``group_by: auto``, and ``audio.speed_views``
    only when it lists speeds (stores and runs from before speed views existed keep their hashes). A setting
    added later must enter this view so that every existing hash stays as it is (left out while it holds the
    value that behaves as before, as ``speed_views`` is); ``tests/test_config_schema.py`` pins the view's keys.
    """
    data = config.model_dump(mode="json")
    view: dict[str, dict[str, Any]] = {}
    for section in ("audio", "video", "model", "train"):
        flat: dict[str, Any] = {}
        for key, value in data[section].items():
            if isinstance(value, dict):  # an extractor's section
                for sub, v in value.items():
                    dotted = _V1_NAMES.get(f"{section}.{key}.{sub}", f"{section}.{key}.{sub}")
                    flat[dotted.split(".", 1)[1]] = v
            else:
                flat[key] = value
        view[section] = flat
    view["audio"]["soundnet_trainable"] = False
    if not view["audio"]["speed_views"]:
        del view["audio"]["speed_views"]
    for (section, key), before in ADDED_AFTER_LAYOUT_1.items():
        if view[section].get(key) == before:
            del view[section][key]
    train = view["train"]
    train["group_by_speaker"] = train["group_by"] != UNGROUPED
    if not train["group_by_speaker"]:
        train["group_by"] = "auto"
    return view
