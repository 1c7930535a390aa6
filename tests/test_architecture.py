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


# Inside chat_server, the declared direction between its parts (subpackages, and the entry
# modules that put them together): part -> parts of chat_server it must never import.
# gateway -> moderation -> rooms, never back; writers and brokers apart; the HTTP API and the
# socket gateway side by side; only the entry points (app, serve, cli*) see everything.
_ENTRY = {"app", "serve", "cli", "cli_members", "cli_support", "__main__"}
FORBIDDEN_INSIDE = {
    "moderation": {"gateway", "api", "runtime", *_ENTRY},
    "broker": {"gateway", "moderation", "api", "runtime", *_ENTRY},
    "transcripts": {"broker", "gateway", "moderation", "api", "runtime", *_ENTRY},
    "gateway": {"api", *_ENTRY},
    "api": {"gateway", *_ENTRY},
    # Private conversations: the socket side consults their gate, the API their service.
    "conversations": {"api", "runtime", *_ENTRY},
    # The client is for others to import: it speaks the protocol, it knows no server part.
    "client": {"api", "broker", "gateway", "moderation", "transcripts", "runtime", "resources",
               "readers", "wire", "keys", "config", "security", "limits", *_ENTRY},
}
MAX_MODULE_LINES = 400


def _chat_server_imports(path: Path) -> set[str]:
    """The parts of chat_server (first name after ``chat_server.``) that ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "chat_server":
                names = [f"chat_server.{alias.name}" for alias in node.names]
        found.update(n.split(".")[1] for n in names if n.startswith("chat_server.") and "." in n)
    return found


@pytest.mark.parametrize("part", sorted(FORBIDDEN_INSIDE))
def test_chat_server_parts_import_in_the_declared_direction(part: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_chat_server_imports(path) & FORBIDDEN_INSIDE[part])
        for path in (ROOT / "chat_server" / part).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_direction_check_sees_imports() -> None:
    # The check above must not pass for want of seeing anything.
    assert "gateway" in _chat_server_imports(ROOT / "chat_server" / "gateway" / "hub.py")
    assert "moderation" in _chat_server_imports(ROOT / "chat_server" / "gateway" / "hub.py")


def test_chat_server_modules_stay_small() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / "chat_server").rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}
