"""CREMA-D: ``VideoFlash/*.flv`` (or ``VideoMP4/*.mp4``) with ``AudioWAV/*.wav`` (or ``AudioMP3/*.mp3``).

File names ``SPEAKER_SENTENCE_EMOTION_LEVEL`` (e.g. ``1001_DFA_ANG_XX``); 6 emotions, 91 speakers,
levels LO/MD/HI/XX. The video files carry their own audio track; a separate WAV (preferred) or MP3 is used
when present. With ``labels=crowd`` (or crowd_audio / crowd_video) the crowd-sourced votes in
``processedResults/summaryTable.csv`` replace the acted emotion; demographics come from
``VideoDemographics.csv`` when present.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from avemotion.data.corpora.base import CORPORA, Corpus, CorpusError, walk_files
from avemotion.data.manifest import ClipRecord
from avemotion.labels import CREMAD6

_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_(LO|MD|HI|XX|X)$")
_CODES = {"A": "anger", "D": "disgust", "F": "fear", "H": "happy", "N": "neutral", "S": "sad"}
_VIDEO = {".flv": 0, ".mp4": 1}
_AUDIO = {".wav": 0, ".mp3": 1}
_VOTE_COLUMN = {"crowd": "MultiModalVote", "crowd_audio": "VoiceVote", "crowd_video": "FaceVote"}


@CORPORA.register("cremad")
class CremaD(Corpus):
    name = "cremad"
    native_labels = CREMAD6
    options = {"labels": "acted (default), crowd, crowd_audio or crowd_video"}

    def load(self, root: Path, labels: str = "acted") -> list[ClipRecord]:
        if labels != "acted" and labels not in _VOTE_COLUMN:
            raise CorpusError(f"labels must be acted, crowd, crowd_audio or crowd_video, not {labels!r}")
        video: dict[str, Path] = {}
        audio: dict[str, Path] = {}
        for path in walk_files(root):
            ext = path.suffix.lower()
            if not _NAME.match(path.stem):
                continue
            if ext in _VIDEO and (path.stem not in video or _VIDEO[ext] < _VIDEO[video[path.stem].suffix.lower()]):
                video[path.stem] = path
            elif ext in _AUDIO and (path.stem not in audio or _AUDIO[ext] < _AUDIO[audio[path.stem].suffix.lower()]):
                audio[path.stem] = path
        votes = _read_votes(root, _VOTE_COLUMN[labels]) if labels != "acted" else {}
        demographics = _read_demographics(root)
        records = []
        dropped = 0
        for stem in sorted(set(video) | set(audio)):
            speaker, sentence, emotion, level = _NAME.match(stem).groups()  # type: ignore[union-attr]
            label = CREMAD6.normalise(emotion)
            if labels != "acted":
                vote = votes.get(stem)
                if not vote:
                    dropped += 1
                    continue
                label = vote
            v = video.get(stem)
            a = audio.get(stem, v)
            extra: dict[str, object] = {"sentence": sentence, "level": level, "acted_label": CREMAD6.normalise(emotion)}
            extra.update(demographics.get(speaker, {}))
            records.append(ClipRecord(stem, label, speaker, str(v) if v else None, str(a) if a else None, extra))
        if labels != "acted" and not records:
            raise CorpusError("no crowd-sourced labels found (processedResults/summaryTable.csv)", root)
        return records


def _read_votes(root: Path, column: str) -> dict[str, str]:
    table = next(iter(root.rglob("summaryTable.csv")), None)
    if table is None:
        raise CorpusError("labels=crowd needs processedResults/summaryTable.csv", root)
    votes = {}
    with open(table, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            vote = (row.get(column) or "").split(":")[0].strip()  # ties ("A:N") -> first listed
            if vote in _CODES:
                votes[row["FileName"]] = _CODES[vote]
    return votes


def _read_demographics(root: Path) -> dict[str, dict[str, object]]:
    table = next(iter(root.rglob("VideoDemographics.csv")), None)
    if table is None:
        return {}
    out: dict[str, dict[str, object]] = {}
    with open(table, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out[row["ActorID"]] = {"gender": row.get("Sex", "").lower(), "age": row.get("Age", "")}
    return out
