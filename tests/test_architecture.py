"""The direction of imports is part of the design; this keeps it from rotting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> top-level modules it must never import
FORBIDDEN = {
    "rooms": {"starlette", "uvicorn", "websockets", "redis", "sqlalchemy", "sqlmodel", "msgpack",
              "chat_server", "presence", "persistence", "asyncpg", "aiosqlite"},
    "presence": {"starlette", "uvicorn", "websockets", "sqlalchemy", "sqlmodel", "chat_server",
                 "persistence"},
    "persistence": {"starlette", "uvicorn", "websockets", "redis", "chat_server", "presence"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_nothing_reads_the_environment_outside_settings() -> None:
    for package in ("chat_server", "rooms", "presence", "persistence"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "config.py":
                continue
            text = path.read_text(encoding="utf-8")
            assert "os.environ" not in text and "getenv" not in text, path
