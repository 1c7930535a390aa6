"""Server frames as typed values, and the one encoder that turns them into wire bytes.

A server frame is a frozen, slotted dataclass deriving from ``ServerFrame``, named by its
``TYPE`` (the wire ``type``). Its fields are the frame's keys, in order; a trailing ``_``
is dropped (``from_`` is ``from`` on the wire); a field listed in ``OPTIONAL`` is left out
while it is None (``cid`` echoed only when the client gave one); a field listed in ``SPREAD``
is a mapping whose keys are merged in place (a view shared with the HTTP API, such as a
notification's). ``wire()`` is the frame as a map; ``encode``/``encode_for`` are the only
ways to bytes, so a frame is packed once per message (docs/protocol.md §1).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import msgpack
import msgspec

from chat_server.wire import MSGPACK, Outgoing

# An already rendered frame (``ServerFrame.wire()``), as a control event carries one from
# the gateway that built it to every other.
Wire = Mapping[str, Any]


class ServerFrame:
    """Base of every server frame; see the module's docstring for how fields map to keys."""

    __slots__ = ()
    TYPE: ClassVar[str]
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    SPREAD: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "wire" not in cls.__dict__:
            # Each type compiles its own: never one inherited from a frame type it derives from.
            cls.wire = ServerFrame.wire  # type: ignore[method-assign]

    def wire(self) -> dict[str, Any]:
        """The frame as the map that goes on the wire (a fresh dict the caller may keep)."""
        # The first call compiles this type's own ``wire`` (a dict literal, as fast as the
        # hand-written maps it replaced) and puts it on the class; later calls go straight to it.
        cls = type(self)
        compiled = _compile(cls)
        cls.wire = compiled  # type: ignore[method-assign, assignment]
        return compiled(self)


def _compile(cls: type[ServerFrame]) -> Callable[[ServerFrame], dict[str, Any]]:
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    plain = [n for n in names if n not in cls.OPTIONAL and n not in cls.SPREAD]
    # Plain fields in one literal while they come first; then, in order, the rest.
    head: list[str] = []
    for n in names:
        if n not in plain:
            break
        head.append(n)
    pairs = "".join(f", {n.rstrip('_')!r}: self.{n}" for n in head)
    lines = ["def wire(self):", f"    out = {{'type': {cls.TYPE!r}{pairs}}}"]
    for n in names[len(head):]:
        key = n.rstrip("_")
        if n in cls.SPREAD:
            lines.append(f"    if self.{n}: out.update(self.{n})")
        elif n in cls.OPTIONAL:
            lines.append(f"    if self.{n} is not None: out[{key!r}] = self.{n}")
        else:
            lines.append(f"    out[{key!r}] = self.{n}")
    lines.append("    return out")
    scope: dict[str, Any] = {}
    exec("\n".join(lines), scope)
    function: Callable[[ServerFrame], dict[str, Any]] = scope["wire"]
    function.__qualname__ = f"{cls.__qualname__}.wire"
    return function


def frame_types() -> dict[str, type[ServerFrame]]:
    """Every server frame type this release can send, by wire ``type`` (for the tests that
    hold docs/protocol.md to the code). Imports every module of the package first."""
    import chat_server.protocol as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    found: dict[str, type[ServerFrame]] = {}
    todo: list[type[ServerFrame]] = [ServerFrame]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "TYPE" in cls.__dict__:
            found[cls.TYPE] = cls
    return found


# msgspec writes the same bytes as msgpack.packb(use_bin_type=True) for every value a frame
# holds (tests/test_unit_msgspec_codec.py), 2-3x faster: a `joined` frame with 100 present
# 33 -> 12 us, and msgpack.packb makes a Packer (and its buffer) per call. Whatever msgspec
# refuses (a subclass of str or int, a lone surrogate) goes to msgpack.packb, which packs it
# or raises as it always did. msgspec would also take a set, a datetime, a UUID or a Decimal,
# which msgpack and the JSON path refuse (msgspec's Encoder cannot be told to refuse them);
# no frame holds one: the test packs every frame type's wire() and checks both paths agree.
_PACK = msgspec.msgpack.Encoder().encode


def _packb(body: Any) -> bytes:
    try:
        return _PACK(body)
    except Exception:  # msgpack.packb's own answer, value or error, is the one kept
        packed: bytes = msgpack.packb(body, use_bin_type=True)
        return packed


def pack(frame: ServerFrame | Wire) -> bytes:
    """The msgpack bytes of one frame."""
    return _packb(frame.wire() if isinstance(frame, ServerFrame) else frame)


def encode(frame: ServerFrame | Wire) -> Outgoing:
    """One frame for many connections (a room, every device of a member): packed once, its
    JSON derived at most once, whichever formats the recipients speak."""
    return Outgoing(pack(frame))


def encode_for(protocol: str, frame: ServerFrame | Wire) -> bytes | str:
    """One frame for one connection (an ack, an error, a page of members), in its format."""
    body = frame.wire() if isinstance(frame, ServerFrame) else frame
    if protocol == MSGPACK:
        return _packb(body)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
