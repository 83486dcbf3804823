"""What a web user reads when a recording cannot be analysed: one plain sentence per kind of problem.

The CLI's messages name command-line flags and FFmpeg's wording; a visitor of the page can use neither. The
full error still goes to the server's log.
"""

from __future__ import annotations

import re

from avemotion.errors import AvemotionError

_UNREADABLE = ("this file could not be read as a recording (damaged, incomplete or not audio/video); "
               "export it again, e.g. as MP4 or WAV, and retry")
_NEEDS = {"av": "speech or a visible face", "audio": "speech", "video": "a visible face"}
_EMPTY = {"av": "no usable speech and no visible face were found",
          "audio": "no usable speech was found (no audio track, or only silence)",
          "video": "no visible face was found (too small, too dark, turned away, or none)"}


def web_message(exc: AvemotionError, name: str, modality: str = "av") -> str:
    """``name: sentence`` for an error met while analysing the upload ``name`` with a ``modality`` model."""
    reason = exc.reason
    if reason in ("not_media", "empty_file", "corrupt", "zero_duration", "media", "missing"):
        text = _UNREADABLE
    elif reason in ("no_audio", "no_video", "no_face", "silent", "nothing_to_predict"):
        text = (f"{_EMPTY.get(modality, _EMPTY['av'])}, so there is nothing to analyse; this model needs "
                f"{_NEEDS.get(modality, _NEEDS['av'])}")
    elif reason == "too_short":
        text = "the recording is too short to analyse; send at least half a second of it"
    else:
        text = without_cli_advice(exc.detail)
    return f"{name}: {text}"


def without_cli_advice(text: str) -> str:
    """The text without command-line advice: ``(--flag ...)`` asides and clauses naming a ``--flag``."""
    text = re.sub(r"\s*\([^()]*--[a-z][^()]*\)", "", text)
    text = ";".join(part for part in text.split(";") if not re.search(r"(^|\s)--[a-z]", part))
    return text.strip().rstrip(";,") or "this recording could not be analysed"
