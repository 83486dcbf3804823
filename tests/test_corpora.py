from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from corpus_helpers import put, tiny_media

from avemotion.data.corpora import CorpusError, load_corpus
from avemotion.data.labelmap import LabelMapping
from avemotion.errors import ConfigError, UnknownLabel


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_media(tmp_path_factory.mktemp("tiny"))


def test_ravdess_tree(tmp_path: Path, media: dict[str, Path]) -> None:
    a1 = tmp_path / "Actor_01"
    put(media["av_mp4"], a1 / "01-01-05-02-01-01-01.mp4")  # AV, angry, strong
    put(media["v_mp4"], a1 / "02-01-05-02-01-01-01.mp4")  # its video-only twin (AV file wins)
    put(media["wav"], a1 / "03-01-05-02-01-01-01.wav")  # its audio-only twin
    put(media["v_mp4"], a1 / "02-01-03-01-02-02-01.mp4")  # video-only + audio-only pair, happy
    put(media["wav"], a1 / "03-01-03-01-02-02-01.wav")
    put(media["wav"], tmp_path / "Actor_02" / "03-02-04-01-01-01-02.wav")  # song, sad, female
    put(media["wav"], tmp_path / "Actor_02" / "README.wav")  # not RAVDESS naming: ignored
    corpus, records = load_corpus("ravdess", tmp_path)
    by_id = {r.clip_id: r for r in records}
    assert set(by_id) == {"01-05-02-01-01-01", "01-03-01-02-02-01", "02-04-01-01-01-02"}
    angry = by_id["01-05-02-01-01-01"]
    assert angry.label == "angry" and angry.modality == "av" and angry.video_path == angry.audio_path
    assert angry.extra["intensity"] == "strong" and angry.extra["gender"] == "male"
    happy = by_id["01-03-01-02-02-01"]
    assert happy.video_path.endswith("02-01-03-01-02-02-01.mp4") and happy.audio_path.endswith(".wav")
    sad = by_id["02-04-01-01-01-02"]
    assert sad.modality == "audio" and sad.extra["channel"] == "song" and sad.speaker == "actor02"
    assert sad.extra["gender"] == "female"
    _, speech = load_corpus("ravdess", tmp_path, channel="speech")
    assert len(speech) == 2
    with pytest.raises(CorpusError, match="channel"):
        load_corpus("ravdess", tmp_path, channel="opera")
    with pytest.raises(CorpusError, match="no option"):
        load_corpus("ravdess", tmp_path, colour="red")


def test_cremad_tree_and_crowd_labels(tmp_path: Path, media: dict[str, Path]) -> None:
    put(media["flv"], tmp_path / "VideoFlash" / "1001_DFA_ANG_XX.flv")
    put(media["wav"], tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    put(media["flv"], tmp_path / "VideoFlash" / "1001_IEO_HAP_HI.flv")  # no separate audio: the flv's own track
    put(media["mp3"], tmp_path / "AudioMP3" / "1002_DFA_SAD_LO.mp3")  # audio only
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n")
    corpus, records = load_corpus("cremad", tmp_path)
    by_id = {r.clip_id: r for r in records}
    assert by_id["1001_DFA_ANG_XX"].audio_path.endswith(".wav") and by_id["1001_DFA_ANG_XX"].label == "anger"
    assert by_id["1001_IEO_HAP_HI"].audio_path == by_id["1001_IEO_HAP_HI"].video_path
    assert by_id["1001_IEO_HAP_HI"].extra["level"] == "HI" and by_id["1001_DFA_ANG_XX"].extra["gender"] == "male"
    assert by_id["1002_DFA_SAD_LO"].modality == "audio" and by_id["1002_DFA_SAD_LO"].speaker == "1002"
    table = tmp_path / "processedResults" / "summaryTable.csv"
    table.parent.mkdir()
    table.write_text(
        ",FileName,VoiceVote,VoiceLevel,FaceVote,FaceLevel,MultiModalVote,MultiModalLevel\n"
        "1,1001_DFA_ANG_XX,A,50,N,40,A:N,60\n2,1001_IEO_HAP_HI,H,70,H,80,N,55\n"
    )
    _, crowd = load_corpus("cremad", tmp_path, labels="crowd")
    assert {r.clip_id: r.label for r in crowd} == {"1001_DFA_ANG_XX": "anger", "1001_IEO_HAP_HI": "neutral"}
    _, face = load_corpus("cremad", tmp_path, labels="crowd_video")
    assert {r.clip_id: r.label for r in face}["1001_DFA_ANG_XX"] == "neutral"


def test_iemocap_tree(tmp_path: Path, media: dict[str, Path]) -> None:
    ses = tmp_path / "Session1"
    put(media["avi"], ses / "dialog" / "avi" / "DivX" / "Ses01F_impro01.avi")
    ev = ses / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    ev.parent.mkdir(parents=True)
    ev.write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[0.5000 - 1.2000]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E1:\tNeutral;\t()\n\n"
        "[1.3000 - 2.0000]\tSes01F_impro01_M000\texc\t[4.0000, 3.5000, 3.0000]\n\n"
        "[2.1000 - 3.0000]\tSes01F_impro01_F001\tfru\t[2.0000, 3.5000, 3.0000]\n"
    )
    for utt in ("Ses01F_impro01_F000", "Ses01F_impro01_M000", "Ses01F_impro01_F001"):
        put(media["wav"], ses / "sentences" / "wav" / "Ses01F_impro01" / f"{utt}.wav")
    corpus, records = load_corpus("iemocap", tmp_path)
    assert [(r.clip_id, r.label, r.speaker) for r in records] == [
        ("Ses01F_impro01_F000", "neutral", "Ses01_F"),
        ("Ses01F_impro01_M000", "happy", "Ses01_M"),
    ]
    first = records[0]
    assert first.extra["video_start"] == 0.5 and first.extra["video_end"] == 1.2 and first.extra["session"] == "Ses01"
    assert first.video_path.endswith("Ses01F_impro01.avi") and first.audio_path.endswith("F000.wav")
    _, full = load_corpus("iemocap", tmp_path, labels="full")
    assert Counter(r.label for r in full) == {"neutral": 1, "excited": 1, "frustrated": 1}


def test_symlinked_corpus_folders_and_files(tmp_path: Path, media: dict[str, Path],
                                            capsys: pytest.CaptureFixture) -> None:
    """A corpus laid out as symbolic links (to actor folders, to single files) loads like a real tree; a dangling
    link is reported under its own name and skipped; a link loop does not hang the walk."""
    store = tmp_path / "elsewhere"
    put(media["wav"], store / "first" / "03-01-05-02-01-01-01.wav")
    put(media["wav"], store / "second" / "03-01-04-01-01-01-02.wav")
    put(media["wav"], store / "loose" / "03-01-03-01-01-01-03.wav")
    root = tmp_path / "ravdess"
    root.mkdir()
    (root / "Actor_01").symlink_to(store / "first", target_is_directory=True)
    (root / "Actor_02").symlink_to(store / "second", target_is_directory=True)
    (root / "Actor_03").mkdir()
    (root / "Actor_03" / "03-01-03-01-01-01-03.wav").symlink_to(store / "loose" / "03-01-03-01-01-01-03.wav")
    (root / "Actor_04").symlink_to(tmp_path / "deleted_actor", target_is_directory=True)  # dangling
    (root / "Actor_01" / "loop").symlink_to(root, target_is_directory=True)  # a cycle back to the root
    _, records = load_corpus("ravdess", root)
    assert sorted(r.label for r in records) == ["angry", "happy", "sad"]
    assert all(str(root) in (r.audio_path or "") for r in records), "paths keep the links' names"
    err = capsys.readouterr().err
    assert "Actor_04" in err and "broken symbolic link" in err
    folder = tmp_path / "mine"
    (folder / "joy").mkdir(parents=True)
    (folder / "joy" / "x.wav").symlink_to(media["wav"])
    (folder / "anger").symlink_to(store / "second", target_is_directory=True)
    _, records = load_corpus("folder", folder)
    assert sorted(r.label for r in records) == ["anger", "joy"]


def test_folds_group_by_the_corpus_protocol() -> None:
    from avemotion.config import TrainConfig
    from avemotion.training.run_setup import resolve_group_by

    class Store:
        def __init__(self, corpus: str | None) -> None:
            self.meta = {"corpus": corpus}

    assert resolve_group_by(TrainConfig(), Store("iemocap")) == "session"  # the field's protocol for IEMOCAP
    assert resolve_group_by(TrainConfig(), Store("ravdess")) == "speaker"
    assert resolve_group_by(TrainConfig(), Store(None)) == "speaker"
    assert resolve_group_by(TrainConfig(group_by="speaker"), Store("iemocap")) == "speaker"


def test_folder_metadata_and_subfolders(tmp_path: Path, media: dict[str, Path]) -> None:
    root = tmp_path / "mine"
    put(media["av_mp4"], root / "clips" / "a.mp4")
    put(media["wav"], root / "clips" / "b.wav")
    (root / "metadata.csv").write_text("path,label,speaker,session\nclips/a.mp4,Joy,p1,s1\nclips/b.wav,anger,p2,\n")
    _, records = load_corpus("folder", root)
    assert [(r.clip_id, r.label, r.speaker, r.modality) for r in records] == [
        ("clips/a", "joy", "p1", "av"), ("clips/b", "anger", "p2", "audio")]
    assert records[0].extra == {"session": "s1"}
    sub = tmp_path / "bylabel"
    put(media["av_mp4"], sub / "happy" / "x.mp4")
    put(media["wav"], sub / "sad" / "y.wav")
    corpus, records = load_corpus("folder", sub)
    assert sorted(r.label for r in records) == ["happy", "sad"]
    assert corpus.label_set(records).labels == ("happy", "sad")
    paper = tmp_path / "paper"
    put(media["wav"], paper / "anger" / "x.wav")
    put(media["wav"], paper / "trust" / "y.wav")
    corpus, records = load_corpus("folder", paper)
    subset = corpus.label_set(records)  # the paper's order and grade intervals are kept
    assert subset.labels == ("trust", "anger") and subset.grades == ((0.0, 0.1), (0.7, 0.8))
    (root / "metadata.csv").write_text("file,emotion\nclips/a.mp4,joy\n")
    with pytest.raises(CorpusError, match="path,label"):
        load_corpus("folder", root)


def test_missing_root_and_empty(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="not found"):
        load_corpus("ravdess", tmp_path / "nope")
    with pytest.raises(CorpusError, match="no ravdess clips"):
        load_corpus("ravdess", tmp_path)


def test_label_mapping(tmp_path: Path, media: dict[str, Path]) -> None:
    put(media["wav"], tmp_path / "Actor_01" / "03-01-02-01-01-01-01.wav")  # calm
    put(media["wav"], tmp_path / "Actor_01" / "03-01-05-01-01-01-01.wav")  # angry
    _, records = load_corpus("ravdess", tmp_path)
    mapping = LabelMapping.load("ravdess_to_paper9")
    mapped, dropped = mapping.apply(records)
    assert [r.label for r in mapped] == ["trust", "anger"] and not dropped
    assert mapped[0].extra["native_label"] == "calm"
    partial = tmp_path / "partial.yaml"
    partial.write_text("target: paper9\nmap:\n  angry: anger\n")
    with pytest.raises(UnknownLabel, match="03-01-02-01-01-01-01.wav.*'calm'"):
        LabelMapping.load(partial).apply(records)
    kept, dropped = LabelMapping.load(partial).apply(records, drop_unmapped=True)
    assert [r.label for r in kept] == ["anger"] and dropped == {"calm": 1}
    bad = tmp_path / "bad.yaml"
    bad.write_text("target: paper9\nmap:\n  angry: rage\n")
    with pytest.raises(ConfigError, match="rage"):
        LabelMapping.load(bad)
    custom = tmp_path / "custom.yaml"
    custom.write_text("target: [positive, negative]\nmap:\n  calm: positive\n  angry: negative\n")
    assert [r.label for r in LabelMapping.load(custom).apply(records)[0]] == ["positive", "negative"]


def test_real_samples(shared_data: Path) -> None:
    _, ravdess = load_corpus("ravdess", shared_data / "ravdess_sample")
    assert len(ravdess) == 240 and len({r.speaker for r in ravdess}) == 4
    assert sum(r.modality == "av" for r in ravdess) == 1
    _, cremad = load_corpus("cremad", shared_data / "cremad_sample")
    assert Counter(r.modality for r in cremad) == {"av": 6, "audio": 6}
