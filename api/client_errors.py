"""Errors of the blocking client (``api.client``), and what ends a stream.

The concept: the exceptions a client user catches.  ``ApiCallError`` carries
the errno (``status``, ``errno_name``) and the request's name; its one-line
``str`` is what reactorctl prints.  An error reply that names the record it is
about (wire-v1 section 2: ``<I`` index, then a UTF-8 reason of at most 200
bytes) also gives ``index`` and ``reason``.  ``api_error`` builds the error of
a reply, as the subclass of its errno where there is one (``NotFound``,
``AlreadyExists``, ``Busy``, ``InvalidArgument``), as ``OSError`` does.

Invariants:
- parsing an error payload never raises: a payload shorter than 4 bytes gives
  no ``index``/``reason``; a reason that is not UTF-8 is decoded with
  replacement characters; only its first ``REASON_MAX`` bytes are kept;
- ``str()`` is one line: control characters of a reason are escaped.
"""

from __future__ import annotations

from api import wire
from api.codec import Response

REASON_MAX = wire.ERROR_REASON_MAX
"""wire-v1 section 2: a reason is at most 200 bytes; more is cut off here."""


class ClientError(Exception):
    """Base of the errors raised by this module."""


class ConnectionClosed(ClientError):
    """The daemon closed the connection."""


class ProtocolError(ClientError):
    """The daemon sent something wire-v1 does not allow."""


class ApiCallError(ClientError):
    """A request was answered with an error status (a positive errno).

    ``index`` is the 0-based index of the record the daemon names as the cause
    (in the request; the typed tables client counts it in the records it was
    given), ``reason`` the daemon's words about it; both None when the reply
    has no such payload.  ``applied`` is, for a bulk operation of the typed
    tables client sent as several requests, how many records earlier requests
    had applied (each request is all or nothing).
    """

    def __init__(self, request: str, status: int, req_id: int | None = None, *,
                 index: int | None = None, reason: str | None = None) -> None:
        super().__init__(request, status, req_id)
        self.request = request
        self.status = status
        self.req_id = req_id
        self.index = index
        self.reason = reason
        self.applied = 0
        self.record: object | None = None    # the failing record, when known

    @property
    def errno_name(self) -> str:
        """``ENOENT`` for 2; ``errno 999`` for a status the protocol does not define."""
        return wire.status_name(self.status)

    def __str__(self) -> str:
        text = wire.STATUS_TEXT.get(self.status, "unknown status")
        line = f"{self.request}: {self.errno_name} ({text})"
        if self.index is not None:
            line += f": record {self.index}"
        if self.reason:
            line += f": {_one_line(self.reason)}"
        return line


class NotFound(ApiCallError):
    """ENOENT: no such object (or a route names a nexthop that does not exist)."""


class AlreadyExists(ApiCallError):
    """EEXIST: an ADD without replace met an existing key."""


class Busy(ApiCallError):
    """EBUSY: a nexthop still used by routes, or a second stream on a connection."""


class InvalidArgument(ApiCallError):
    """EINVAL: a field value the daemon does not accept."""


class Stale(ApiCallError):
    """ESTALE: a WATCH asked for (or fell behind into) changes the daemon no longer
    retains; watch again with a snapshot, or from a revision still retained."""


class VersionMismatch(ApiCallError):
    """HELLO was answered EBADMSG: the daemon does not speak this API version."""

    def __str__(self) -> str:
        return (f"{super().__str__()}: the daemon does not speak API version "
                f"{wire.API_VERSION}")


_BY_STATUS: dict[int, type[ApiCallError]] = {
    wire.ENOENT: NotFound, wire.EEXIST: AlreadyExists, wire.EBUSY: Busy,
    wire.EINVAL: InvalidArgument, wire.ESTALE: Stale,
}


def parse_error_payload(payload: bytes) -> tuple[int | None, str | None]:
    """(index, reason) of an error reply's payload; (None, None) if it has none."""
    if len(payload) < wire.U32.size:
        return None, None
    (index,) = wire.U32.unpack_from(payload)
    reason = payload[wire.U32.size:wire.U32.size + REASON_MAX].decode("utf-8", "replace")
    return index, reason


def api_error(request: str, status: int, req_id: int | None = None,
              payload: bytes = b"") -> ApiCallError:
    """The error of a reply with ``status`` (non-zero) and ``payload``."""
    index, reason = parse_error_payload(payload)
    cls = _BY_STATUS.get(status, ApiCallError)
    return cls(request, status, req_id, index=index, reason=reason)


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def is_terminator(frame: Response) -> bool:
    return frame.status != 0 or not frame.payload
