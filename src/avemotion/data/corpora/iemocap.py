"""IEMOCAP: ``Session1..5``; utterances are cut from the dialog videos by the times in
``dialog/EmoEvaluation/*.txt``; audio comes from ``sentences/wav/DIALOG/UTT.wav``.

An utterance's record points at the dialog video (``video_path``) with ``extra.video_start``/``video_end``
(s), and at its own WAV (already cut to the utterance). ``labels=4class`` (default) keeps neutral, happy
(+ excited), angry and sad and drops the rest; ``labels=full`` keeps every category. Speakers are
``SesNN_F`` / ``SesNN_M``; ``extra.session`` is the group for leave-one-session-out evaluation.
"""

from __future__ import annotations

import re
from pathlib import Path

from avemotion.data.corpora.base import CORPORA, Corpus, CorpusError
from avemotion.data.manifest import ClipRecord
from avemotion.labels import IEMOCAP4, IEMOCAP_FULL, LabelSet

_LINE = re.compile(r"^\[(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\]\s+(Ses\d\d[FM]_\S+)\s+(\w+)\s+\[([^\]]*)\]")
_FOUR = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}


@CORPORA.register("iemocap")
class Iemocap(Corpus):
    name = "iemocap"
    native_labels = IEMOCAP4
    default_group_by = "session"
    options = {"labels": "4class (default: neutral, happy+excited, angry, sad) or full"}

    def __init__(self) -> None:
        self._labels: LabelSet = IEMOCAP4

    def load(self, root: Path, labels: str = "4class") -> list[ClipRecord]:
        if labels not in ("4class", "full"):
            raise CorpusError(f"labels must be 4class or full, not {labels!r}")
        self._labels = self.native_labels = IEMOCAP4 if labels == "4class" else IEMOCAP_FULL
        sessions = sorted(p for p in root.glob("Session*") if p.is_dir())
        if not sessions:
            raise CorpusError("no Session1..5 folders", root)
        records = []
        for session_dir in sessions:
            session = f"Ses{int(session_dir.name.replace('Session', '')):02d}"
            for evaluation in sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt")):
                dialog = evaluation.stem
                video = _find_dialog_video(session_dir, dialog)
                for line in evaluation.read_text(errors="replace").splitlines():
                    m = _LINE.match(line.strip())
                    if not m:
                        continue
                    start, end, utt, code, vad = m.groups()
                    if labels == "4class":
                        if code not in _FOUR:
                            continue
                        label = _FOUR[code]
                    else:
                        label = IEMOCAP_FULL.normalise(code)
                    wav = session_dir / "sentences" / "wav" / dialog / f"{utt}.wav"
                    gender = utt.split("_")[-1][0]  # speaker of this utterance: F000 -> F
                    valence, activation, dominance = (float(x) for x in vad.split(","))
                    records.append(
                        ClipRecord(
                            clip_id=utt,
                            label=label,
                            speaker=f"{session}_{gender}",
                            video_path=str(video) if video else None,
                            audio_path=str(wav) if wav.is_file() else None,
                            extra={
                                "session": session,
                                "dialog": dialog,
                                "video_start": float(start),
                                "video_end": float(end),
                                "gender": "female" if gender == "F" else "male",
                                "improvised": "impro" in dialog,
                                "valence": valence,
                                "activation": activation,
                                "dominance": dominance,
                                "native_code": code,
                            },
                        )
                    )
        return [r for r in records if r.audio_path or r.video_path]


def _find_dialog_video(session_dir: Path, dialog: str) -> Path | None:
    for sub in ("dialog/avi/DivX", "dialog/avi", "dialog/video"):
        for ext in (".avi", ".mp4"):
            path = session_dir / sub / f"{dialog}{ext}"
            if path.is_file():
                return path
    return None
