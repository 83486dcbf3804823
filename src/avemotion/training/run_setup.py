"""Setting up a run folder, shared by ``avemotion train`` and ``avemotion compare``: the store's label set and
fold grouping, the run hash that names a run's setup, the guard that refuses to resume into a folder holding
another run, the folds (made once, then read back), and the torch settings training runs under.

A run hash must stay what it is for a given setup, or existing run folders stop resuming: the payloads below
take the config's sections from its frozen :func:`~avemotion.config.hash_view`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from avemotion.config import Config, TrainConfig, hash_view
from avemotion.config.schema import UNGROUPED
from avemotion.data.store import FeatureStore
from avemotion.errors import AvemotionError
from avemotion.labels import LabelSet, get_label_set
from avemotion.training.splits import Splits, make_splits
from avemotion.utils.hashing import json_digest

#: the record in a run folder that names its setup
RUN_RECORD = "run.json"


def resolve_label_set(store: FeatureStore) -> LabelSet:
    """The store's label set (with its grades) when it names a known one with the same labels; otherwise the
    store's labels in store order, with the grades the store recorded (none: CC is then undefined)."""
    labels = store.labels
    name = store.meta.get("label_set")
    if isinstance(name, str):
        try:
            known = get_label_set(name)
            if list(known.labels) == labels:
                return known
        except KeyError:
            pass
    grades = store.meta.get("grades")
    if isinstance(grades, list) and len(grades) == len(labels):
        return LabelSet(name=name if isinstance(name, str) else "store", labels=tuple(labels),
                        grades=tuple((float(lo), float(hi)) for lo, hi in grades))
    return LabelSet(name=name if isinstance(name, str) else "store", labels=tuple(labels))


def resolve_group_by(config: TrainConfig, store: FeatureStore) -> str:
    """The record field folds keep together: the config's, or for "auto" the store's corpus protocol."""
    if config.group_by not in ("auto", UNGROUPED):  # ("none": only k-fold folds ignore the grouping)
        return config.group_by
    from avemotion.data.corpora import CORPORA

    corpus = store.meta.get("corpus")
    known = isinstance(corpus, str) and corpus in CORPORA
    return CORPORA.get(corpus).default_group_by if known else "speaker"


# --- run hashes -----------------------------------------------------------------------------------------
def run_hash(config: Config, model_name: str, store: FeatureStore) -> str:
    """Hash of an ``avemotion train`` run's setup: model, its config, training config, audio extractors, the
    video groups chosen (``video.groups``), the store's extraction config and labels."""
    view = hash_view(config)
    relevant = {"model_name": model_name, "model": view["model"], "train": view["train"],
                "extractors": view["audio"]["extractors"], "store": store.meta.get("config_hash"),
                "labels": store.labels}
    if "speed_views" in view["audio"]:  # (the view has them only when there are some)
        relevant["speed_views"] = view["audio"]["speed_views"]
    return json_digest(_with_video_groups(relevant, view))


def variant_run_hash(model: str, overrides: dict, config: Config, store: FeatureStore, labels: list[str],
                     splits: Splits, speeds: Sequence[float]) -> str:
    """Hash of one ``avemotion compare`` model's run: the variant, its configs, the store, labels and
    folds."""
    view = hash_view(config)
    setup = {"model": model, "overrides": overrides, "model_cfg": view["model"],
             "train": view["train"], "extractors": view["audio"]["extractors"],
             "store": store.meta.get("config_hash"), "labels": labels, "splits": splits.to_dict()}
    if speeds:  # (absent when none, so runs from before the speed views keep their hash)
        setup["speed_views"] = speeds
    return json_digest(_with_video_groups(setup, view))


def compare_setup(store: FeatureStore, labels: list[str], clip_ids: Sequence[str], config: Config) -> dict:
    """What a comparison folder is tied to: store, labels, clip set (hashed) and training setup."""
    view = hash_view(config)
    return _with_video_groups({"store": store.meta.get("config_hash"), "labels": labels,
                               "clips": json_digest(sorted(clip_ids)), "train": view["train"],
                               "modality": config.train.modality}, view)


def _with_video_groups(setup: dict, view: dict) -> dict:
    """``setup`` with the video groups chosen (``video.groups``), only when some are: a setup with all groups keeps
    the hash it had before the setting existed (``hash_view`` leaves it out then)."""
    if "groups" in view["video"]:
        setup["video_groups"] = view["video"]["groups"]
    return setup


# --- the resume guard -----------------------------------------------------------------------------------
def records_other(record: Path, key: str, value: object) -> bool:
    """Whether the saved ``record`` exists and its ``key`` is not ``value``."""
    return record.is_file() and json.loads(record.read_text()).get(key) != value


def refuse_other_setup(record: Path, key: str, value: object, message: str, folder: Path) -> None:
    """Resuming is only allowed into a folder whose saved ``record[key]`` equals ``value``."""
    if records_other(record, key, value):
        raise AvemotionError(message, folder)


def holds_other_run(rundir: str | Path, features: str | Path, config: Config,
                    model_name: str | None = None) -> bool:
    """Whether ``rundir`` holds a run of another config, model or feature store (one ``run_training`` would
    refuse to resume), e.g. a demo run from before a default changed."""
    record = Path(rundir) / RUN_RECORD
    return record.is_file() and records_other(record, "run_hash",
                                              run_hash(config, model_name or config.model.name,
                                                       FeatureStore(features)))


# --- folds and torch ------------------------------------------------------------------------------------
def load_or_make_splits(path: Path, clip_ids: list[str], labels: np.ndarray, speakers: Sequence[str | None],
                        config: TrainConfig,
                        check_clips: bool = False) -> Splits:
    """The folds saved at ``path``, else new ones made and saved there. ``check_clips``: refuse saved folds
    that name clips no longer among ``clip_ids``."""
    if path.is_file():
        splits = Splits.load(path)
        if check_clips:
            listed = {c for f in splits.folds for c in (*f.train, *f.val, *f.test)}
            if not listed <= set(clip_ids):
                raise AvemotionError("splits.json names clips the feature store no longer has; delete it",
                                     path)
        return splits
    splits = make_splits(clip_ids, labels, speakers, config)
    splits.save(path)
    return splits


@contextlib.contextmanager
def training_torch_settings(train: TrainConfig) -> Iterator[None]:
    """Torch thread count of the config and deterministic algorithms, restored afterwards."""
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    if train.threads:
        torch.set_num_threads(train.threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)
