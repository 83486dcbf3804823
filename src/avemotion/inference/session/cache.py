"""Resuming an interrupted session analysis: each stage's results kept in a folder beside the outputs.

A :class:`SessionCache` is a folder (``OUT/.<name>.session-cache`` for the CLI) holding, each written
atomically: ``key.json`` (what the results belong to: the recording's content hash and every setting that
changes them), ``speakers.json`` (the recording's duration and speaker turns), ``emotion-NNNNN.json`` (the
results of :data:`CHUNK` speech segments each, in order) and ``faces.npz`` (the face tracks). A run finding
the same key reuses what is there and computes the rest; another key (another recording or other settings)
empties the folder before its first save; nothing is written before a stage's results are (a run that fails
at once leaves no folder). Only files this module names are ever written or removed, and only in the folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from avemotion.inference.session.records import FaceTrack, Turn
from avemotion.utils.atomic import atomic_path, atomic_write_json
from avemotion.utils.hashing import json_digest

CHUNK = 64  # speech segments per emotion file
KEY_VERSION = 1  # bumped when what a stage stores, or how it is computed, changes


def content_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read a block at a time)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


#: the recording's voice decoded for the run and read a slice at a time, so memory stays flat in length; the
#: pipeline removes it at the end of the speaker and lip-sync stages (not a stage result: clear() leaves it)
SIGNAL = "signal.f32"


class SessionCache:
    """The stage results of one recording analysed with one set of settings, in ``folder``."""

    def __init__(self, folder: str | Path, recording: str | Path, settings: dict[str, object], *,
                 chunk: int = CHUNK) -> None:
        self.folder = Path(folder)
        self.chunk = chunk
        self.key = {"version": KEY_VERSION, "recording": content_hash(recording), "settings": settings,
                    "chunk": chunk}
        key_file = self.folder / "key.json"
        try:
            same = json.loads(key_file.read_text(encoding="utf-8")) == json.loads(json.dumps(self.key))
        except (OSError, ValueError):
            same = False
        self._stale = not same  # emptied, and the key written, on the first save (a failed run leaves nothing)

    @property
    def digest(self) -> str:
        return json_digest(self.key)

    def clear(self) -> None:
        """Remove the stage files (and the folder when nothing else is in it)."""
        if not self.folder.is_dir():
            return
        for p in self.folder.iterdir():
            if p.name in ("key.json", "speakers.json", "faces.npz") or (p.name.startswith("emotion-")
                                                                       and p.suffix == ".json"):
                p.unlink()

    # --- speakers ---------------------------------------------------------------------------------
    def load_turns(self) -> tuple[float, list[Turn]] | None:
        """``(duration, turns)`` of a finished speaker stage, or None."""
        data = self._read("speakers.json")
        if data is None:
            return None
        return float(data["duration"]), [Turn(float(a), float(b), str(s)) for a, b, s in data["turns"]]

    def save_turns(self, duration: float, turns: list[Turn]) -> None:
        self._claim()
        atomic_write_json(self.folder / "speakers.json",
                          {"duration": duration, "turns": [[t.start, t.end, t.speaker] for t in turns]})

    # --- emotion per speech segment ----------------------------------------------------------------
    def load_emotions(self, count: int) -> list[dict[str, object]]:
        """The stored results of the first speech segments (whole chunks, in order; at most ``count``)."""
        out: list[dict[str, object]] = []
        while len(out) < count:
            data = self._read(f"emotion-{len(out) // self.chunk:05d}.json")
            if not isinstance(data, list) or len(data) != min(self.chunk, count - len(out)):
                break
            out += data
        return out

    def save_emotions(self, first: int, rows: list[dict[str, object]]) -> None:
        """Store the results of speech segments ``first, first + 1, ...`` (``first`` a multiple of
        :attr:`chunk`; a whole chunk, or the last one)."""
        self._claim()
        atomic_write_json(self.folder / f"emotion-{first // self.chunk:05d}.json", rows, indent=0)

    # --- face tracks --------------------------------------------------------------------------------
    def load_tracks(self) -> list[FaceTrack] | None:
        path = self.folder / "faces.npz"
        if self._stale or not path.is_file():
            return None
        with np.load(path) as z:
            ids = [str(i) for i in z["ids"]]
            return [FaceTrack(i, z[f"t{n}"].tolist(), [tuple(b) for b in z[f"b{n}"].tolist()],
                              z[f"m{n}"].tolist(), list(z[f"p{n}"])) for n, i in enumerate(ids)]

    def save_tracks(self, tracks: list[FaceTrack]) -> None:
        self._claim()
        arrays: dict[str, np.ndarray] = {"ids": np.array([t.id for t in tracks], dtype=str)}
        for n, t in enumerate(tracks):
            arrays[f"t{n}"] = np.asarray(t.times, np.float64)
            arrays[f"b{n}"] = np.asarray(t.boxes, np.float64).reshape(-1, 4)
            arrays[f"m{n}"] = np.asarray(t.mouth, np.float64)
            arrays[f"p{n}"] = np.asarray(t.probabilities, np.float32).reshape(-1, 7)
        with atomic_path(self.folder / "faces.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    def _claim(self) -> None:
        """Before the first save: empty a folder holding another key's results and write this key."""
        if self._stale:
            self.clear()
            atomic_write_json(self.folder / "key.json", self.key)
            self._stale = False

    def _read(self, name: str) -> object:
        if self._stale:
            return None
        try:
            return json.loads((self.folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
