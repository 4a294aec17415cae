"""Errors of the blocking client (``api.client``), and what ends a stream.

The concept: the exceptions a client user catches.  ``ApiCallError`` carries
the errno and the request's name; its one-line ``str`` is what reactorctl prints.
"""

from __future__ import annotations

from api import wire
from api.codec import Response


class ClientError(Exception):
    """Base of the errors raised by this module."""


class ConnectionClosed(ClientError):
    """The daemon closed the connection."""


class ProtocolError(ClientError):
    """The daemon sent something wire-v1 does not allow."""


class ApiCallError(ClientError):
    """A request was answered with an error status (a positive errno)."""

    def __init__(self, request: str, status: int, req_id: int | None = None) -> None:
        super().__init__(request, status, req_id)
        self.request = request
        self.status = status
        self.req_id = req_id

    def __str__(self) -> str:
        text = wire.STATUS_TEXT.get(self.status, "unknown status")
        return f"{self.request}: {wire.status_name(self.status)} ({text})"


class VersionMismatch(ApiCallError):
    """HELLO was answered EBADMSG: the daemon does not speak this API version."""

    def __str__(self) -> str:
        return (f"{super().__str__()}: the daemon does not speak API version "
                f"{wire.API_VERSION}")


def is_terminator(frame: Response) -> bool:
    return frame.status != 0 or not frame.payload

