"""RAVDESS: ``Actor_XX/MM-VC-EE-II-SS-RR-AA.(mp4|wav)``.

Fields: modality (01 audio-video, 02 video-only, 03 audio-only), vocal channel (01 speech, 02 song),
emotion (01-08), intensity (01 normal, 02 strong), statement (01/02), repetition (01/02), actor (odd: male).
One clip per utterance: the audio-video file when present, else the video-only file paired with its
audio-only twin, else whichever single modality exists.
"""

from __future__ import annotations

import re
from pathlib import Path

from avemotion.data.corpora.base import CORPORA, Corpus, CorpusError, walk_files
from avemotion.data.manifest import ClipRecord
from avemotion.labels import RAVDESS8

_NAME = re.compile(r"^(0[1-3])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)$")
_CHANNELS = {"01": "speech", "02": "song"}


@CORPORA.register("ravdess")
class Ravdess(Corpus):
    name = "ravdess"
    native_labels = RAVDESS8
    options = {"channel": "speech, song or both (default both)"}

    def load(self, root: Path, channel: str = "both") -> list[ClipRecord]:
        if channel not in ("speech", "song", "both"):
            raise CorpusError(f"channel must be speech, song or both, not {channel!r}")
        utterances: dict[str, dict[str, Path]] = {}
        for path in walk_files(root):
            if path.suffix.lower() not in (".mp4", ".wav"):
                continue
            m = _NAME.match(path.stem)
            if not m:
                continue
            modality, rest = m.group(1), path.stem[3:]
            utterances.setdefault(rest, {})[modality] = path
        records = []
        for rest, files in sorted(utterances.items()):
            vc, emo, intensity, statement, repetition, actor = rest.split("-")
            if channel != "both" and _CHANNELS[vc] != channel:
                continue
            if "01" in files:
                video = audio = files["01"]
            else:
                video, audio = files.get("02"), files.get("03")
            records.append(
                ClipRecord(
                    clip_id=rest,
                    label=RAVDESS8.labels[int(emo) - 1],
                    speaker=f"actor{actor}",
                    video_path=str(video) if video else None,
                    audio_path=str(audio) if audio else None,
                    extra={
                        "gender": "male" if int(actor) % 2 else "female",
                        "intensity": "normal" if intensity == "01" else "strong",
                        "statement": int(statement),
                        "repetition": int(repetition),
                        "channel": _CHANNELS[vc],
                    },
                )
            )
        return records
