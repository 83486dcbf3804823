"""The feature store: cached per-clip features of one corpus under one extractor config.

Layout of ``FEATDIR``::

    store.json       corpus, label set, extractor config (``config``: its audio and video sections, with
                     ``schema_version``) and its hash, feature dimensions
    manifest.csv     every clip of the corpus (ClipRecord columns + ``key``)
    clips/KEY.npz    one ClipFeatures per finished clip, written atomically; KEY hashes the clip's media
                     content and the extractor config, so a changed file or config is extracted again
    failures.csv     clips that failed, with the reason       (written by ``avemotion extract``)
    summary.json     counts, dimensions, time per clip        (written by ``avemotion extract``)

A clip is done exactly when its ``clips/KEY.npz`` exists: an interrupted run resumes from there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from avemotion.config import migrate
from avemotion.data.manifest import ClipRecord, read_manifest, write_manifest
from avemotion.errors import StoreError
from avemotion.features.record import ClipFeatures
from avemotion.utils.atomic import atomic_write_json

STORE_VERSION = 1


@dataclass
class StoredClip:
    record: ClipRecord
    key: str


class FeatureStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        meta_path = self.root / "store.json"
        if not meta_path.is_file():
            raise StoreError("not a feature store (no store.json); create one with `avemotion extract`", self.root)
        self.meta: dict = json.loads(meta_path.read_text())
        if isinstance(self.meta.get("config"), dict):  # the extraction settings in the current layout
            self.meta["config"] = migrate(self.meta["config"])

    # --- creation --------------------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, meta: dict, records: list[ClipRecord], keys: list[str]) -> FeatureStore:
        root = Path(root)
        (root / "clips").mkdir(parents=True, exist_ok=True)
        for stale in (root / "clips").glob(".*"):  # temporary files of a run that was killed mid-write
            stale.unlink()
        meta = {"version": STORE_VERSION, **meta}
        existing = root / "store.json"
        if existing.is_file():
            old = json.loads(existing.read_text())
            if old.get("config_hash") != meta.get("config_hash"):
                # a different extractor config: entries keyed by the old hash simply won't match
                meta["previous_config_hash"] = old.get("config_hash")
        atomic_write_json(root / "store.json", meta)
        write_manifest(root / "manifest.csv", records, {"key": keys})
        return cls(root)

    # --- access ----------------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return list(self.meta["labels"])

    def path_for(self, key: str) -> Path:
        return self.root / "clips" / f"{key}.npz"

    def has(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def put(self, key: str, features: ClipFeatures) -> Path:
        features.validate()
        return features.save(self.path_for(key))

    def all_clips(self) -> list[StoredClip]:
        rows = read_manifest(self.root / "manifest.csv")
        return [StoredClip(ClipRecord.from_row(r), r["key"]) for r in rows]

    def done(self) -> list[StoredClip]:
        """Clips whose features are in the store, in manifest order."""
        return [c for c in self.all_clips() if self.has(c.key)]

    def load(self, clip: StoredClip) -> ClipFeatures:
        return ClipFeatures.load(self.path_for(clip.key))

    def load_all(self) -> tuple[list[ClipRecord], list[ClipFeatures]]:
        done = self.done()
        if not done:
            raise StoreError("the feature store holds no extracted clips", self.root)
        return [c.record for c in done], [self.load(c) for c in done]
