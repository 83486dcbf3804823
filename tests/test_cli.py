from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_demo_writes_effective_config(tmp_path: Path) -> None:
    tiny = ["--per-class", "1", "--speakers", "1", "--seconds", "0.6", "--labels", "paper9", "--workers", "1"]
    assert main(["--quiet", "demo", "--out", str(tmp_path), *tiny, "--set", "model.chi=0.3"]) == 0
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["model"]["chi"] == 0.3 and saved["model"]["beta"] == 0.6
