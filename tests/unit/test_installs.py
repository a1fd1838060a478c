"""Installs are reproducible: `make` installs from the locks, the locks pin every dependency
pyproject.toml names, the demo installs no developers' tools, and the package says what it is."""

import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)")


def _pins(lock: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements" / lock).read_text(encoding="utf-8").splitlines():
        if match := _PIN.match(line):
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(text).name) for text in requirements}


def test_the_locks_pin_every_dependency_and_agree_with_each_other() -> None:
    runtime, dev = _pins("runtime.txt"), _pins("dev.txt")
    project = PYPROJECT["project"]
    assert _names(project["dependencies"]) <= runtime.keys()
    assert _names(project["optional-dependencies"]["dev"]) <= dev.keys()
    assert runtime.keys() <= dev.keys()
    assert {name: dev[name] for name in runtime} == runtime
    for lock in ("runtime.txt", "dev.txt"):
        assert "make lock" in (ROOT / "requirements" / lock).read_text(encoding="utf-8")


def test_this_environment_was_installed_from_the_developers_lock() -> None:
    installed = {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
    }
    locked = _pins("dev.txt")
    elsewhere = {
        name: (installed[name], version)
        for name, version in locked.items()
        if name in installed and installed[name] != version
    }
    assert not elsewhere, f"installed (version, locked version) differ: {elsewhere}"
    missing = {
        name for name in _names(PYPROJECT["project"]["dependencies"]) if name not in installed
    }
    assert not missing


def _dry_run(target: str, tmp_path: Path) -> str:
    """The commands `make TARGET` would run for a newcomer (a virtualenv not made yet)."""
    return subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_the_demo_installs_the_runtime_from_its_lock_and_no_developers_tools(tmp_path) -> None:
    commands = _dry_run("demo", tmp_path)
    assert "-c requirements/runtime.txt -e ." in commands
    assert "[dev]" not in commands and "dev.txt" not in commands


def test_the_tests_install_the_developers_lock(tmp_path) -> None:
    assert '-c requirements/dev.txt -e ".[dev]"' in _dry_run("lint", tmp_path)


def test_the_package_metadata_names_its_license_authors_and_classifiers() -> None:
    project = PYPROJECT["project"]
    assert project["license"] and (ROOT / project["license-files"][0]).is_file()
    assert project["authors"] and project["classifiers"]
    installed = metadata.metadata("rapport")
    assert installed["License-Expression"] == project["license"]
    assert set(installed.get_all("Classifier") or ()) == set(project["classifiers"])
