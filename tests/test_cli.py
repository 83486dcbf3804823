from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from avemotion.cli.main import main


def test_help_lists_commands(capsys) -> None:
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "make-corpus", "version", "probe"):
        assert command in out


def test_version(capsys) -> None:
    assert main(["version"]) == 0
    assert "avemotion 0.1.0" in capsys.readouterr().out


#: modules that take tenths of a second or more to import: none may load before a command runs
HEAVY_MODULES = ("torch", "mediapipe", "cv2", "av", "scipy", "opensmile", "librosa", "pandas", "matplotlib",
                 "sklearn", "numpy", "pydantic", "rich", "tqdm")


@pytest.mark.parametrize("argv", [["--help"], ["version"]])
def test_cli_start_imports_nothing_heavy(argv: list[str]) -> None:
    """`avemotion --help` / `version` build every sub-command's parser without importing heavy libraries."""
    code = (
        "import sys\n"
        "from avemotion.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', [m for m in {HEAVY_MODULES!r} if m in sys.modules])\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": src}).stdout
    loaded = out.rsplit("LOADED", 1)[1].strip()
    assert loaded == "[]", f"imported at start-up: {loaded}"


def test_user_error_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "avemotion", "probe", str(tmp_path / "missing.mp4")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert "missing.mp4" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_error_and_debug_traceback(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "avemotion", "demo", "--out", str(tmp_path), "--set", "model.beta=abc"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1 and "model.beta" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "avemotion", "--debug", *cmd[3:]], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def test_demo_end_to_end(tmp_path: Path, capsys) -> None:
    """The whole demo on a tiny corpus: corpus, features, 3 trained runs, held-out predictions, report."""
    tiny = ["--per-class", "2", "--speakers", "2", "--seconds", "0.8", "--labels", "paper9", "--workers", "1",
            "--folds", "2", "--epochs", "2"]
    assert main(["--quiet", "demo", "--out", str(tmp_path), *tiny, "--set", "model.chi=0.3"]) == 0
    out = capsys.readouterr().out
    assert "anger" in out and "spk01" in out and "all" in out  # the corpus table
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["model"]["chi"] == 0.3 and saved["model"]["beta"] == 0.6
    assert len(list((tmp_path / "features" / "clips").glob("*.npz"))) == 18
    for modality in ("av", "audio", "video"):
        metrics = json.loads((tmp_path / f"run_{modality}" / "metrics.json").read_text())
        assert metrics["n"] == 18 and 0.0 <= metrics["ua"] <= 1.0 and len(metrics["per_fold"]) == 2
    results = json.loads((tmp_path / "demo_results.json").read_text())
    assert 0 <= results["heldout_correct"] <= 9 and set(results["stage_seconds"]) >= {"feature extraction", "report"}
    report = (tmp_path / "report.md").read_text()
    assert "audio + video" in report and "audio only" in report and "Held-out speaker" in report
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and html.count("<tr>") >= 3 + 9 + 9
    # per-moment prediction on a longer recording made of two held-out clips
    from avemotion.media import load_audio, read_frames
    from avemotion.media.write import write_media

    clips = sorted((tmp_path / "heldout" / "clips").rglob("*.mp4"))[:2]
    frames = [f for c in clips for f in read_frames(c, fps=15)[0]]
    audio = np.concatenate([load_audio(c, 16000) for c in clips])
    long = write_media(tmp_path / "long.mp4", frames, fps=15, audio=audio, sample_rate=16000)
    assert main(["--quiet", "predict", "--model", str(tmp_path / "run_av"), str(long), "--window", "0.8",
                 "--hop", "0.4", "--timeline-dir", str(tmp_path / "tl")]) == 0
    with open(tmp_path / "tl" / "long.timeline.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 3 and float(rows[-1]["end"]) == pytest.approx(len(audio) / 16000, abs=0.1)
    for row in rows:
        probs = [float(row[f"p_{label}"]) for label in metrics["labels"]]
        assert row["emotion"] == metrics["labels"][int(np.argmax(probs))] and sum(probs) == pytest.approx(1, abs=1e-3)
    assert (tmp_path / "tl" / "long.timeline.png").stat().st_size > 1000
    # a rerun resumes: nothing is recomputed, the report comes out again
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "features" / "clips").glob("*.npz")}
    assert main(["--quiet", "demo", "--out", str(tmp_path), *tiny, "--set", "model.chi=0.3"]) == 0
    assert before == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "features" / "clips").glob("*.npz")}
