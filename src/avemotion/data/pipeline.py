"""``avemotion extract``: a corpus on disk -> a feature store, in parallel, resumable, with a failure list.

Each clip is one task: extract, then write ``clips/KEY.npz`` atomically (in the worker). Clips whose entry
exists are skipped, so a killed run resumes where it stopped. ``local`` runs tasks in this process
(1 worker) or a process pool; ``ray`` runs the same tasks on Ray actors (a local instance or a cluster at
``address``; on a cluster the store must be on a filesystem every node sees). Both executors are those of
:mod:`avemotion.utils.workers`.
"""

from __future__ import annotations

import csv
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avemotion.config import Config
from avemotion.data.extract import Extractor, clip_key, config_hash
from avemotion.data.manifest import ClipRecord
from avemotion.data.store import FeatureStore
from avemotion.errors import AvemotionError, ConfigError
from avemotion.labels import LabelSet
from avemotion.modality import Modality
from avemotion.utils.atomic import atomic_open, atomic_write_json
from avemotion.utils.progress import progress
from avemotion.utils.workers import limit_threads, map_unordered, ray_map_unordered

Task = tuple[dict[str, str], str]  # (ClipRecord row, key)


@dataclass
class ExtractionSummary:
    total: int
    done: int
    skipped: int
    partial: int
    failed: int
    wall_seconds: float
    seconds_per_clip: float
    audio_seconds: float
    real_time_factor: float | None
    dims: dict[str, Any]
    failures: list[dict[str, str]]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "failures"} | {"failures": len(self.failures)}


# --- worker side -------------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(config_dict: dict[str, Any], store_root: str, modality: str) -> None:
    limit_threads()
    from avemotion.utils.progress import set_quiet

    set_quiet(True)
    _WORKER.update(extractor=Extractor(Config.from_dict(config_dict)), store=store_root, modality=modality)


def _run_task(task: Task) -> dict[str, Any]:
    row, key = task
    record = ClipRecord.from_row(row)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"clip_id": record.clip_id, "key": key, "path": record.video_path or record.audio_path}
    try:
        result = _WORKER["extractor"].extract(record, _WORKER["modality"])
        store = FeatureStore(_WORKER["store"])
        store.put(key, result.features)
        f = result.features
        out.update(
            status="partial" if result.partial else "done",
            reason=";".join(r for r, _ in result.warnings),
            message=" | ".join(m for _, m in result.warnings),
            duration=float(f.meta.get("duration", 0.0)),
            face_rate=float(f.meta.get("face_rate", 0.0)),
            dims=f.dims(),
        )
    except AvemotionError as exc:
        out.update(status="failed", reason=exc.reason, message=str(exc))
    except Exception as exc:  # one bad clip must not end the run; the reason is recorded
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        out.update(status="failed", reason="internal_error", message=f"{out['path']}: {tb}")
    out["seconds"] = time.perf_counter() - t0
    return out


def _close_worker() -> None:
    """In this process (one worker): release the MediaPipe graphs (a worker process ends with them)."""
    _WORKER.pop("extractor").close()


# --- driver ------------------------------------------------------------------------------------------------
def run_extraction(
    records: list[ClipRecord],
    out: str | Path,
    config: Config,
    *,
    corpus: str,
    label_set: LabelSet,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    modality: Modality = "av",
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> ExtractionSummary:
    out = Path(out)
    cfg_hash = config_hash(config)
    keys = [clip_key(r, cfg_hash) for r in progress(records, desc="hashing", unit="clip")]
    meta = {
        "corpus": corpus,
        "labels": list(label_set.labels),
        "label_set": label_set.name,
        "grades": [list(g) for g in label_set.grades] if label_set.grades else None,
        "config_hash": cfg_hash,
        "modality": modality,
        "config": {k: v for k, v in config.to_dict().items() if k in ("schema_version", "audio", "video")},
    }
    store = FeatureStore.create(out, meta, records, keys)
    config.save(out / "config.yaml")
    todo = [(r.to_row(), k) for r, k in zip(records, keys, strict=True) if not store.has(k)]
    skipped = len(records) - len(todo)
    init_args = (config.to_dict(), str(out), modality)
    if executor == "local":
        results: Iterable[dict[str, Any]] = map_unordered(
            _run_task, todo, workers=workers, initializer=_init_worker, initargs=init_args,
            finalizer=_close_worker)
    elif executor == "ray":
        results = ray_map_unordered(_run_task, todo, workers=workers, initializer=_init_worker,
                                    initargs=init_args, address=address)
    else:
        raise ConfigError(f"unknown executor {executor!r}: use local or ray")
    t0 = time.perf_counter()
    finished: list[dict[str, Any]] = []
    bar = progress(total=len(todo), desc="extracting", unit="clip")
    try:
        for res in results:
            finished.append(res)
            bar.update(1)
            n_failed = sum(r["status"] == "failed" for r in finished)
            bar.set_postfix(failed=n_failed, refresh=False)
            if on_result:
                on_result(res)
    finally:
        bar.close()
        wall = time.perf_counter() - t0
        summary = _summarise(records, finished, skipped, wall, store)
        _write_failures(out / "failures.csv", summary.failures)
        atomic_write_json(out / "summary.json", summary.to_dict())
    return summary


def _summarise(records: list[ClipRecord], finished: list[dict[str, Any]], skipped: int, wall: float,
               store: FeatureStore) -> ExtractionSummary:
    ok = [r for r in finished if r["status"] != "failed"]
    failures = [
        {"clip_id": r["clip_id"], "path": r.get("path") or "", "status": r["status"], "reason": r.get("reason", ""),
         "message": r.get("message", "")}
        for r in finished if r["status"] != "done"
    ]
    audio_seconds = sum(r.get("duration", 0.0) for r in ok)
    dims: dict[str, Any] = {}
    for r in ok:
        for k, v in r["dims"].items():
            if v and k not in dims:
                dims[k] = v
    if not dims:
        dims = _dims_from_store(store)
    busy = sum(r["seconds"] for r in finished)
    return ExtractionSummary(
        total=len(records),
        done=sum(r["status"] == "done" for r in finished),
        skipped=skipped,
        partial=sum(r["status"] == "partial" for r in finished),
        failed=sum(r["status"] == "failed" for r in finished),
        wall_seconds=round(wall, 3),
        seconds_per_clip=round(busy / len(finished), 4) if finished else 0.0,
        audio_seconds=round(audio_seconds, 2),
        real_time_factor=round(wall / audio_seconds, 4) if audio_seconds > 0 else None,
        dims=dims,
        failures=failures,
    )


def _dims_from_store(store: FeatureStore) -> dict[str, Any]:
    done = store.done()
    if not done:
        return {}
    return store.load(done[0]).dims()


def _write_failures(path: Path, failures: list[dict[str, str]]) -> None:
    # merge with failures of earlier runs that were not retried (their clips are not in the store either)
    previous: dict[str, dict[str, str]] = {}
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as fh:
            previous = {row["clip_id"]: row for row in csv.DictReader(fh)}
    store = FeatureStore(path.parent)
    done_ids = {c.record.clip_id for c in store.done()}
    merged = {cid: row for cid, row in previous.items() if cid not in done_ids or row.get("status") == "partial"}
    merged.update({f["clip_id"]: f for f in failures})
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["clip_id", "path", "status", "reason", "message"])
        writer.writeheader()
        for row in merged.values():
            writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
