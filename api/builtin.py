"""The main module's requests: HELLO, STREAM_CANCEL, STATS and CLIENTS.

The concept: the handlers that speak about the server and its connections
rather than about a table.  They are ordinary one-shot handlers, registered
into the daemon's registry by its assembly (``tools.daemon.build_daemon``,
after the ``Server`` exists: they read its sessions and figures), so they get
the registry's checks (ENOTSUP, EMSGSIZE) and error handling like every other
handler.

- HELLO: 4..68 bytes (api_version + optional name); EBADMSG on a version
  mismatch, the connection stays open.
- STREAM_CANCEL: the named stream's ECANCELED terminator is queued before this
  request's own reply (status 0); ESRCH when the connection has no active
  stream with that id.
- STATS: a JSON object (see ``Server.stats``).
- CLIENTS: one-shot with several responses: one ``<IIIIQ`` record per open
  connection, queued contiguously, then an empty terminator (the return
  value).  One record per connection bounds it at ``max_clients`` frames.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from api import wire
from api.registry import ApiError, Context, Registry

if TYPE_CHECKING:
    from api.server import Server
    from api.session import Session


def register(registry: Registry, server: Server) -> None:
    def session_of(ctx: Context) -> Session:
        return server.sessions[ctx.client_id]

    def hello(payload: bytes, ctx: Context) -> bytes:
        if len(payload) > wire.HELLO_REQ.size + wire.HELLO_NAME_MAX:
            raise ApiError(wire.EINVAL, "client name longer than 64 bytes")
        (version,) = wire.HELLO_REQ.unpack_from(payload)
        if version != wire.API_VERSION:
            raise ApiError(wire.EBADMSG, f"api_version {version}, server speaks 1")
        name = payload[wire.HELLO_REQ.size:].decode("utf-8", "replace")
        session_of(ctx).client_name = name
        return wire.HELLO_REQ.pack(wire.API_VERSION) + server.version.encode()

    def stream_cancel(payload: bytes, ctx: Context) -> bytes:
        if len(payload) != wire.CANCEL_REQ.size:
            raise ApiError(wire.EINVAL)
        (for_id,) = wire.CANCEL_REQ.unpack(payload)
        if not session_of(ctx).cancel_stream(for_id):
            raise ApiError(wire.ESRCH)
        return b""

    def stats(payload: bytes, ctx: Context) -> bytes:
        if payload:
            raise ApiError(wire.EINVAL)
        return json.dumps(server.stats(), sort_keys=True).encode()

    def clients(payload: bytes, ctx: Context) -> bytes:
        if payload:
            raise ApiError(wire.EINVAL)
        for session in list(server.sessions.values()):
            stream = session.stream
            flags = 0
            if stream is not None:
                flags = wire.CLIENT_STREAM_ACTIVE
                if stream.paused:
                    flags |= wire.CLIENT_STREAM_PAUSED
            ctx.respond(wire.CLIENT.pack(session.client_id, session.pid, session.uid, flags,
                                         session.output_buffered))
        return b""

    registry.register(wire.HELLO, hello, min_size=wire.HELLO_REQ.size)
    registry.register(wire.STREAM_CANCEL, stream_cancel, min_size=wire.CANCEL_REQ.size)
    registry.register(wire.STATS, stats)
    registry.register(wire.CLIENTS, clients)
