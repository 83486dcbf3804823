"""The web page's plain sentences for errors (web/messages.py): one per kind, chosen by the error's reason."""

from __future__ import annotations

from avemotion.errors import CorruptMedia, NoFaceFound, NothingToPredict, SilentAudio
from avemotion.web.messages import web_message, without_cli_advice


def test_nothing_to_predict_reads_as_nothing_to_analyse() -> None:
    exc = NothingToPredict("clip: nothing this model can use: it needs audio or a visible face")
    assert exc.reason == "nothing_to_predict"
    text = web_message(exc, "talk.mp4", "av")
    assert text.startswith("talk.mp4: ") and "nothing to analyse" in text and "speech or a visible face" in text
    assert "nothing to analyse" in web_message(NothingToPredict(), "x.wav", "audio")


def test_each_kind_has_its_sentence_without_cli_flags() -> None:
    assert "could not be read" in web_message(CorruptMedia("moov atom not found"), "a.mp4")
    assert "no visible face" in web_message(NoFaceFound(), "a.mp4", "video")
    silent = web_message(SilentAudio(), "a.wav", "audio")
    assert "no usable speech" in silent and "--" not in silent
    assert without_cli_advice("no face found (use --modality audio); try again") == "no face found; try again"
