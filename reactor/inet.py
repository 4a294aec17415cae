"""TCP listening sockets (the metrics endpoint's), beside ``reactor.unix``'s AF_UNIX ones.

The concept: ``listen_tcp("127.0.0.1", 9465)`` returns a blocking socket,
bound and listening, ready for a ``Listener``.  The host is resolved with
``getaddrinfo`` (numeric or a name such as ``localhost``; the first address
that binds wins); port 0 lets the kernel choose (read it back with
``reactor.handover.socket_name``).  SO_REUSEADDR is set, so that a restarted
daemon binds at once despite connections in TIME_WAIT; an IPv6 socket is
IPV6_V6ONLY, so ``[::]`` means IPv6 only, never IPv4 as a side effect.
"""

from __future__ import annotations

import socket


def listen_tcp(host: str, port: int, *, backlog: int = 64) -> socket.socket:
    """A blocking TCP socket listening on ``host:port``; ``OSError`` if none binds."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV)
    last: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind | socket.SOCK_CLOEXEC, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
        except OSError as err:
            sock.close()
            last = err
            continue
        return sock
    raise last if last is not None else OSError(f"{host}: no address to listen on")
