"""docs/protocol.md against the code: every error code the socket can send is in §6 and every
code there exists; every close code the server sends is in §7 and every one there is sent;
every server frame type (chat_server/protocol) is documented, and every one of §4 exists."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from chat_server import app as _app  # noqa: F401 - every part, so every RoomError is defined
from chat_server.gateway import connection
from chat_server.protocol.base import frame_types
from rooms import errors
from rooms import moderation as _moderation  # noqa: F401 - defines Forbidden, a RoomError

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")


def _section(number: int) -> str:
    start = DOC.index(f"\n## {number}. ")
    return DOC[start:DOC.index("\n## ", start + 1)]


def _codes(cls: type[errors.RoomError]) -> set[str]:
    found = {cls.code} if "code" in cls.__dict__ else set()
    for sub in cls.__subclasses__():
        found |= _codes(sub)
    return found


def test_every_error_code_is_documented_and_every_documented_one_exists() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)`", _section(6), re.MULTILINE)) - {"code"}
    # Scheduling or editing a session and opening a topic, friends and following, are HTTP
    # only (§9): no frame meets these.
    # Registering, signing in and passwords (chat_server/accounts/errors.py) too.
    http_only = {"invalid_event", "bad_transition", "invalid_topic",
                 "yourself", "you_blocked", "not_accepted", "too_many",
                 "invalid_email", "invalid_handle", "invalid_key_phrase", "handle_taken",
                 "too_many_attempts", "invalid_credentials", "wrong_password", "invalid_code"}
    raised = _codes(errors.RoomError) - {errors.RoomError.code} - http_only
    # "internal" is the endpoint's answer to a failure that is not a RoomError.
    assert documented == raised | {"internal"}


def test_every_close_code_sent_is_documented_and_every_server_code_is_sent() -> None:
    table = _section(7)
    documented = {int(c) for c in re.findall(r"^\|\s*(\d{4}) \| server", table, re.MULTILINE)}
    sent = {v for k, v in vars(connection).items() if k.startswith("CLOSE_") and k != "CLOSE_LOST"}
    assert sent <= documented
    # The others are sent by uvicorn itself (frame size, UTF-8, ping).
    assert documented - sent == {1007, 1009, 1011}
    # 1006 is never sent: the code a connection records when its socket just dropped.
    assert connection.CLOSE_LOST == 1006 and re.search(r"^\| 1006 \| nobody", table, re.MULTILINE)


QUESTIONS_DOC = (Path(__file__).resolve().parent.parent / "docs" / "questions.md").read_text(encoding="utf-8")


def _documented_server_frames() -> set[str]:
    """Server frame types docs describe: §4's headings, the answers §3 names ("Answered with
    `x`"), and questions.md §2's answer column and live frames."""
    headings = re.findall(r"^### 4\.\d+ (.+)$", _section(4), re.MULTILINE)
    found = {name for h in headings for name in re.findall(r"`([a-z_]+)`", h)}
    found |= set(re.findall(r"Answered with `([a-z_]+)`", _section(3)))
    start = QUESTIONS_DOC.index("\n## 2. ")
    questions = QUESTIONS_DOC[start:QUESTIONS_DOC.index("\n## ", start + 1)]
    found |= set(re.findall(r"^\| `[a-z_]+ \{[^|]*` \| `([a-z_]+) \{", questions, re.MULTILINE))
    found |= set(re.findall(r"\*\*Live frames\.\*\* `([a-z_]+) \{", questions))
    return found


def test_every_server_frame_type_is_documented() -> None:
    # Every frame the server can send is a type in chat_server/protocol (the architecture
    # test refuses a frame map built anywhere else), so this covers every frame sent.
    typed = set(frame_types())
    assert typed - _documented_server_frames() == set()


def test_every_frame_of_section_4_exists() -> None:
    headings = re.findall(r"^### 4\.\d+ (.+)$", _section(4), re.MULTILINE)
    documented = {name for h in headings for name in re.findall(r"`([a-z_]+)`", h)}
    assert len(documented) > 25  # the parse above must not pass for want of reading
    assert documented - set(frame_types()) == set()


def test_a_frame_type_is_one_class_and_encodes_its_type() -> None:
    for name, cls in frame_types().items():
        assert name == cls.TYPE
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, name  # type: ignore[attr-defined]
