""".ci/check_commits (run by `make lint`): commit subjects after a given commit are at most 72 characters."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "check_commits"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(repo), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _commit(repo: Path, subject: str) -> str:
    _git(repo, "commit", "--allow-empty", "-q", "-m", subject)
    return _git(repo, "rev-parse", "--short", "HEAD")


def _check(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(repo / ".ci" / "check_commits"), *args], capture_output=True,
                          text=True, check=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".ci").mkdir()
    shutil.copy(SCRIPT, tmp_path / ".ci" / "check_commits")
    _git(tmp_path, "init", "-q")
    return tmp_path


def test_long_subjects_after_the_base_fail(repo: Path) -> None:
    before = _commit(repo, "x" * 100)  # before the base: not checked
    base = _commit(repo, "base")
    ok = _check(repo, "--since", base)
    assert ok.returncode == 0, ok.stderr
    _commit(repo, "é" * 72)  # characters, not bytes
    assert _check(repo, "--since", base).returncode == 0
    long = _commit(repo, "y" * 73)
    bad = _check(repo, "--since", base)
    assert bad.returncode == 1 and long in bad.stderr and "73 characters" in bad.stderr
    assert before not in bad.stderr


def test_missing_base_or_no_checkout_is_skipped(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    _commit(repo, "y" * 80)
    absent = _check(repo, "--since", "0123456789abcdef0123456789abcdef01234567")
    assert absent.returncode == 0 and "skipped" in absent.stdout
    bare = tmp_path_factory.mktemp("no-git")
    (bare / ".ci").mkdir()
    shutil.copy(SCRIPT, bare / ".ci" / "check_commits")
    outside = _check(bare)
    assert outside.returncode == 0 and "skipped" in outside.stdout
