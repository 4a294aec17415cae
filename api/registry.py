"""Handler registry: which code answers which request type.

The concept: a request type maps to exactly one handler, of one of two kinds.

- one-shot: ``handler(payload, ctx) -> reply payload`` (status 0).  It may also
  send extra responses for its own request with ``ctx.respond(payload)`` before
  returning; the returned payload is then the last response (CLIENTS uses this
  to send records and an empty terminator).
- stream: ``init(payload, ctx) -> state`` validates the request and builds the
  state (a filter and a key cursor: never a live iterator); then
  ``produce(state, ctx, limit) -> Batch`` is asked for at most ``limit`` items
  at a time, and says whether more follow, the stream waits, or it ended
  (``api.batch``: one interface for records of one size and for items of
  several).  Grout's one-record ``next(state, ctx) -> record | None`` plugs in
  through the adapter ``api.batch.one_record``.

Errors: a handler raises ``ApiError(errno)``; that status is the reply (or the
stream's terminator).  Any other ``Exception`` is logged with the request type
and id and answered ``EIO``; the daemon lives on.

Invariants, checked here once so that no handler repeats them:
- unknown types are answered ``ENOTSUP`` and payloads shorter than the
  registered minimum ``EMSGSIZE``, before any handler runs (``check``);
- registering a type twice, or as both kinds, raises ``ValueError`` at start-up;
- ``init`` has no side effects: the server may call it and then answer EBUSY
  (wire-v1 section 4 puts EBUSY after every other check).
- what a stream hands back is checked by the server, not trusted: more than
  ``limit`` items, or an item of another size than declared (``record_size``,
  or over ``max_record_size``), ends the stream EIO, so no handler can break
  wire-v1 section 5's output bound; sizes above ``wire.MAX_STREAM_RECORD`` are
  refused here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Generic, Protocol, TypeVar, Union

from api import wire
from api.batch import Producer

log = logging.getLogger("api")

S = TypeVar("S")


class ApiError(Exception):
    """A request failed with a wire status (a positive errno)."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail

    def __str__(self) -> str:
        text = f"{wire.status_name(self.status)}: {wire.STATUS_TEXT.get(self.status, '')}"
        return f"{text} ({self.detail})" if self.detail else text


class Context(Protocol):
    """What a handler sees of its connection."""

    @property
    def client_id(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def uid(self) -> int: ...
    @property
    def request_id(self) -> int:
        """Id of the request being handled: a one-shot's, or the stream's during
        its ``init`` and batch calls."""
    def respond(self, payload: bytes) -> None:
        """Queue an extra status-0 response for the one-shot request being
        handled; anywhere else it raises ``RuntimeError`` (a stream's items are
        its batches: an extra response would break its framing)."""


OneShotHandler = Callable[[bytes, Context], bytes]
StreamInit = Callable[[bytes, Context], S]
MinSize = Union[int, Callable[[bytes], int]]


@dataclass(frozen=True, slots=True)
class OneShot:
    req_type: int
    name: str
    min_size: MinSize
    handler: OneShotHandler


@dataclass(frozen=True, slots=True)
class Stream(Generic[S]):
    req_type: int
    name: str
    min_size: MinSize
    init: StreamInit[S]
    produce: Producer[S]
    record_size: int | None
    """Every item has this length when set; ``None``: items of 1..``max_record_size``."""
    max_record_size: int
    """The longest item (``record_size`` when set): the server asks for at most
    ``stream_batch_bytes // (12 + max_record_size)`` items at a time."""


Entry = Union[OneShot, Stream[Any]]


def list_min_size(record_size: int) -> Callable[[bytes], int]:
    """Minimum length of a LIST payload: 8, or 8 + one record with AFTER."""
    base = wire.LIST_REQ.size

    def min_size(payload: bytes) -> int:
        if len(payload) >= base and wire.LIST_REQ.unpack_from(payload)[2] & wire.LIST_AFTER:
            return base + record_size
        return base

    return min_size


class Registry:
    """Request type -> handler.  Pure: no I/O, no connection state."""

    def __init__(self) -> None:
        self._entries: dict[int, Entry] = {}
        self._stats: dict[str, Callable[[], int]] = {}

    def register(self, req_type: int, handler: OneShotHandler, *,
                 min_size: MinSize = 0, name: str | None = None) -> None:
        """Register a one-shot handler."""
        self._add(OneShot(req_type, name or wire.type_name(req_type), min_size, handler))

    def register_stream(self, req_type: int, init: StreamInit[S], produce: Producer[S], *,
                        min_size: MinSize = 0, record_size: int | None = None,
                        max_record_size: int | None = None, name: str | None = None) -> None:
        """Register a stream: ``record_size`` for items all that long, else
        ``max_record_size`` (default ``wire.MAX_STREAM_RECORD``) bounds them."""
        if record_size is not None and max_record_size is not None:
            raise ValueError("record_size and max_record_size exclude each other")
        longest = record_size or max_record_size or wire.MAX_STREAM_RECORD
        for what, size in (("record_size", record_size), ("max_record_size", longest)):
            if size is not None and not 0 < size <= wire.MAX_STREAM_RECORD:
                raise ValueError(f"{what} {size} is not in 1..{wire.MAX_STREAM_RECORD}")
        self._add(Stream(req_type, name or wire.type_name(req_type), min_size, init,
                         produce, record_size, longest))

    def _add(self, entry: Entry) -> None:
        if entry.req_type in self._entries:
            old = self._entries[entry.req_type]
            raise ValueError(f"request type 0x{entry.req_type:08x} ({entry.name}) is already "
                             f"registered as a {type(old).__name__} handler")
        if not 0 <= entry.req_type <= 0xFFFFFFFF:
            raise ValueError(f"request type {entry.req_type} does not fit in u32")
        self._entries[entry.req_type] = entry

    def add_stats(self, name: str, value: Callable[[], int]) -> None:
        """A figure STATS reports (e.g. a table size); names are unique."""
        if name in self._stats:
            raise ValueError(f"stats figure {name!r} is already registered")
        self._stats[name] = value

    def stats(self) -> dict[str, int]:
        return {name: value() for name, value in self._stats.items()}

    def check(self, req_type: int, payload: bytes) -> Entry:
        """The entry for this request, or ``ApiError`` ENOTSUP / EMSGSIZE."""
        entry = self._entries.get(req_type)
        if entry is None:
            raise ApiError(wire.ENOTSUP)
        min_size = entry.min_size
        needed = min_size if isinstance(min_size, int) else min_size(payload)
        if len(payload) < needed:
            raise ApiError(wire.EMSGSIZE, f"{entry.name} needs at least {needed} bytes")
        return entry

    def __contains__(self, req_type: int) -> bool:
        return req_type in self._entries


def call_guarded(entry: Entry, request_id: int, fn: Callable[[], S]) -> S:
    """Run a handler step; any non-API exception becomes ``ApiError(EIO)``, logged."""
    try:
        return fn()
    except ApiError:
        raise
    except Exception:
        log.exception("handler %s failed on request id %d", entry.name, request_id)
        raise ApiError(wire.EIO) from None
