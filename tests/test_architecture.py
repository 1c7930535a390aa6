"""The direction of imports is part of the design; this keeps it from rotting."""

from __future__ import annotations

import ast
import re
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
    # The HTTP handlers receive the services they use (app.py's handler_services), never the
    # runtime that holds them all (and see test_handlers_never_use_the_runtime below).
    "api": {"gateway", "runtime", *_ENTRY},
    # Accounts: a service the API calls; it closes sockets through the broker and a callable.
    "accounts": {"gateway", "api", "runtime", *_ENTRY},
    # Private conversations: the socket side consults their gate, the API their service.
    "conversations": {"api", "runtime", *_ENTRY},
    # The protocol's one home: typed frames and control events; it sees only the wire below it.
    "protocol": {"gateway", "moderation", "api", "broker", "transcripts", "runtime", "resources",
                 "readers", "accounts", "conversations", "events", "questions", "social",
                 "private_talk", *_ENTRY},
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


# Every HTTP handler module receives the services it uses (app.py's handler_services, read
# with api/common.service) and never reaches through the runtime locator.
API_MODULES = sorted(p.stem for p in (ROOT / "chat_server" / "api").glob("*.py"))


def _runtime_uses(source: str) -> list[str]:
    """Where ``source`` imports chat_server.runtime or the ``runtime`` accessor, names
    ``runtime`` or ``Runtime``, or reads ``.runtime`` (``request.state.runtime``) or the
    ``"runtime"`` state by name."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("chat_server.runtime")]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("chat_server.runtime"):
                found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names if a.name in ("runtime", "Runtime")]
        elif isinstance(node, ast.Name) and node.id in ("runtime", "Runtime"):
            found.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr == "runtime":
            found.append(f"line {node.lineno}: .runtime")
        elif isinstance(node, ast.Constant) and node.value == "runtime":
            found.append(f"line {node.lineno}: 'runtime'")
    return found


def test_every_api_module_is_checked() -> None:
    # The list comes from the directory, so a new module is checked the day it is added.
    assert {"common", "history", "moderation", "notifications", "accounts"} <= set(API_MODULES)


@pytest.mark.parametrize("module", API_MODULES)
def test_handlers_never_use_the_runtime(module: str) -> None:
    path = ROOT / "chat_server" / "api" / f"{module}.py"
    assert _runtime_uses(path.read_text(encoding="utf-8")) == []


def test_the_runtime_check_sees_uses() -> None:
    # Each way back to the locator is seen, so the check above cannot pass for want of looking.
    assert _runtime_uses("from chat_server.api.common import caller, runtime")
    assert _runtime_uses("from chat_server.runtime import Runtime")
    assert _runtime_uses("import chat_server.runtime")
    assert _runtime_uses("rt = runtime(request)")
    assert _runtime_uses("rt = request.state.runtime")
    assert _runtime_uses("rt = getattr(request.state, 'runtime')")
    assert _runtime_uses("x = getattr(request.state, 'db')") == []


# Server frames are typed values in chat_server/protocol, encoded by its one encoder: a map with
# a "type" key built anywhere else is a frame (or a frame's shape) that bypasses them. The
# client builds client frames; the OpenAPI document's JSON Schema has "type" keys of its own.
FRAME_HOME = ROOT / "chat_server" / "protocol"
NOT_FRAMES = {ROOT / "chat_server" / "api" / "openapi.py"}
NOT_FRAMES_UNDER = (ROOT / "chat_server" / "client",)


def _frame_maps(source: str, key: str = "type") -> list[int]:
    """Lines where ``source`` builds a map with a literal ``key`` (``"type"``: a frame; ``"op"``:
    a control event): ``{"type": ...}``, ``dict(type=...)``, or ``x["type"] = ...``."""
    lines: list[int] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            if any(isinstance(k, ast.Constant) and k.value == key for k in node.keys):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
            if any(kw.arg == key for kw in node.keywords):
                lines.append(node.lineno)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if (isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)
                        and target.slice.value == key):
                    lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("key", ["type", "op"])
def test_frames_and_control_events_are_built_only_in_the_protocol_package(key: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): found
        for package in ("chat_server", "rooms", "presence", "persistence")
        for path in (ROOT / package).rglob("*.py")
        if not path.is_relative_to(FRAME_HOME) and path not in NOT_FRAMES
        and not any(path.is_relative_to(p) for p in NOT_FRAMES_UNDER)
        and (found := _frame_maps(path.read_text(encoding="utf-8"), key))
    }
    assert offenders == {}


def test_the_frame_check_sees_frames() -> None:
    assert _frame_maps('f = {"type": "ack", "cid": c}') == [1]
    assert _frame_maps('f = {**view, "type": "reacted"}') == [1]
    assert _frame_maps('f = dict(type="pong")') == [1]
    assert _frame_maps('f["type"] = "gap"') == [1]
    assert _frame_maps('f = {"kind": "ack"}') == []
    assert _frame_maps('payload = {"op": "talk"}', "op") == [1]
    assert _frame_maps((FRAME_HOME / "rooms.py").read_text(encoding="utf-8")) == []  # typed, not maps
    assert _frame_maps((FRAME_HOME / "message.py").read_text(encoding="utf-8"))  # the one map it packs


# Close codes have one home, gateway/connection.py (CLOSE_*); everything else names them.
CLOSE_HOME = ROOT / "chat_server" / "gateway" / "connection.py"


def _close_numbers(source: str) -> list[int]:
    """Lines where ``source`` passes a number as a close code: ``x.close(4003, ...)``,
    ``close_after_flush(1008, ...)``, ``close_code = 1013``, or ``... or 1000`` beside one."""
    lines: list[int] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "close", "close_after_flush") and node.args:
            first = node.args[0]
            if any(isinstance(n, ast.Constant) and isinstance(n.value, int) for n in ast.walk(first)):
                lines.append(node.lineno)
        elif (isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Constant)
              and type(node.value.value) is int):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) and t.attr == "close_code" for t in targets):
                lines.append(node.lineno)
    return lines


def test_close_codes_are_written_only_in_their_home() -> None:
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in (ROOT / "chat_server").rglob("*.py")
        if path != CLOSE_HOME and (found := _close_numbers(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
    assert _close_numbers("conn.close(4003, 'kicked')") == [1]
    assert _close_numbers("await ws.close(conn.close_code or 1000, reason)") == [1]
    assert _close_numbers("conn.close(CLOSE_REMOVED, 'kicked')") == []
    assert _close_numbers("self.close_code = 4001") == [1]
    assert _close_numbers("self.close_code: int | None = None") == []


# Redis key and channel names live in chat_server/keys.py (presence keeps its own, in
# presence/redis_store.py: it must not import chat_server); id shapes in rooms/ids.py.
KEY_HOMES = {ROOT / "chat_server" / "keys.py", ROOT / "presence" / "redis_store.py"}
ID_HOME = ROOT / "rooms" / "ids.py"


def _strings(source: str) -> list[tuple[int, str]]:
    """The string constants of ``source`` that are not docstrings, with their lines."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_redis_key_names_and_id_patterns_have_one_home() -> None:
    keys, patterns = {}, {}
    for package in ("chat_server", "rooms", "presence", "persistence"):
        for path in (ROOT / package).rglob("*.py"):
            found = _strings(path.read_text(encoding="utf-8"))
            name = str(path.relative_to(ROOT))
            if path not in KEY_HOMES and (lines := [n for n, s in found if re.match(r"kindred:\w", s)]):
                keys[name] = lines
            if path != ID_HOME and (lines := [n for n, s in found if "[0-9a-f]{" in s]):
                patterns[name] = lines
    assert keys == {}
    assert patterns == {}
    assert _strings('"""doc"""\nKEY = "kindred:x"') == [(2, "kindred:x")]
