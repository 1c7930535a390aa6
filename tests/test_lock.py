"""The lock file is the only source of what gets installed (issue 11).

Fast checks that the lock covers pyproject.toml, carries hashes, that the operators' server
lock agrees with it, and that the virtualenv the tests run in (built by `make test` from the
lock alone) holds exactly the lock's packages at their versions, no more and no fewer.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
SERVER_LOCK = ROOT / "requirements" / "server.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _pins(path: Path) -> dict[str, list[tuple[str, str | None]]]:
    """name -> [(version, marker)] for every pinned requirement, with its hashes counted."""
    pins: dict[str, list[tuple[str, str | None]]] = {}
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = _PIN.match(line)
        if not m:
            continue
        assert "--hash=sha256:" in lines[i + 1], f"{path.name}: {m.group(1)} has no hash"
        pins.setdefault(canonicalize_name(m.group(1)), []).append((m.group(2), m.group(3)))
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in ("test", "bench", "client"):
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pins = _pins(LOCK)
    env = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux"}
    for req in _declared():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not in {LOCK.name}: run make lock"
        versions = [v for v, _ in pins[name]]
        assert any(req.specifier.contains(v, prereleases=True) for v in versions), (
            f"{req.name}: the lock pins {versions}, pyproject.toml asks for {req.specifier}"
        )


def test_server_lock_agrees_with_the_dev_lock() -> None:
    dev, server = _pins(LOCK), _pins(SERVER_LOCK)
    assert set(server) <= set(dev)
    for name, versions in server.items():
        assert {v for v, _ in versions} <= {v for v, _ in dev[name]}, name
    # The operators' lock carries no test or benchmark tooling.
    for tool in ("pytest", "playwright", "mypy", "django", "python-socketio"):
        assert canonicalize_name(tool) not in server


def test_the_build_tools_are_pinned_too() -> None:
    pins = _pins(LOCK)
    assert "pip" in pins and "setuptools" in pins


def test_installed_packages_are_the_locked_versions() -> None:
    """The venv the suite runs in is exactly the lock, nothing newer slipped in."""
    from importlib.metadata import distributions

    pins = _pins(LOCK)
    for dist in distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in ("kindred",):
            continue
        assert name in pins, f"{name} is installed but not locked"
        assert dist.version in {v for v, _ in pins[name]}, f"{name} {dist.version} is not the locked version"


def test_every_locked_package_for_this_platform_is_installed_at_its_version() -> None:
    """With the check above, the venv is the lock exactly, both ways. `make test` builds the
    venv from the lock alone (`--require-hashes --no-deps`) and CI starts from a clean clone,
    so this is the new virtualenv built from the lock; building a second one here cost ~100 s
    of a 2-core machine's suite and could only find what these two checks find."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.markers import Marker

    missing, wrong = [], []
    for name, versions in _pins(LOCK).items():
        wanted = {v for v, marker in versions if marker is None or Marker(marker).evaluate()}
        if not wanted:
            continue  # pinned for another platform or Python only
        try:
            have = version(name)
        except PackageNotFoundError:
            missing.append(name)
            continue
        if have not in wanted:
            wrong.append(f"{name} {have} (locked {sorted(wanted)})")
    assert missing == [] and wrong == [], (missing, wrong)
