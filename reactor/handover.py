"""Sockets handed to the process from outside: an inherited listener, a notify datagram.

The concept: the socket side of systemd's two small protocols (the rule is
that only reactor/ touches sockets; ``tools.systemd`` speaks the protocols).

- ``adopt_listener(fd)``: a listening stream socket the process inherited
  (socket activation passes them from fd 3 on).  The descriptor is checked
  before use: a stream socket that is listening (SO_ACCEPTCONN), of one of
  the expected families; anything else raises ``OSError`` (its text says what
  is wrong) and leaves the descriptor open.  The adopted socket is made close-on-exec.
- ``NotifySocket(address)``: an unconnected, non-blocking AF_UNIX datagram
  socket that sends each message to ``address`` (a path, or ``@name`` for the
  abstract namespace, as $NOTIFY_SOCKET spells it).  ``send`` never blocks:
  if the receiver's queue is full the message is dropped and ``send``
  returns False; any other failure raises ``OSError``.
"""

from __future__ import annotations

import errno
import os
import socket


def adopt_listener(fd: int, families: tuple[int, ...] = (socket.AF_UNIX,)) -> socket.socket:
    """The listening stream socket at ``fd``; see the module docstring."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as err:
        what = "not open" if err.errno == errno.EBADF else "not a socket"
        raise OSError(f"inherited descriptor {fd} is {what}") from None
    try:
        if sock.type != socket.SOCK_STREAM or sock.family not in families:
            names = " or ".join(socket.AddressFamily(f).name for f in families)
            raise OSError(f"inherited descriptor {fd} is not a {names} stream socket")
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise OSError(f"inherited socket {fd} is not listening")
    except BaseException:
        sock.detach()       # not ours to close: the caller decides
        raise
    os.set_inheritable(fd, False)
    return sock


def socket_name(sock: socket.socket) -> str:
    """A listening socket's address as text: the path of an AF_UNIX socket
    (``@name`` if abstract), ``host:port`` otherwise."""
    name = sock.getsockname()
    if isinstance(name, bytes):
        return "@" + name[1:].decode("utf-8", "replace") if name[:1] == b"\0" else name.decode()
    if isinstance(name, str):
        return "@" + name[1:] if name.startswith("\0") else name
    host, port = name[0], name[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class NotifySocket:
    """A datagram socket for $NOTIFY_SOCKET; see the module docstring."""

    def __init__(self, address: str) -> None:
        if not address or address[0] not in "/@":
            raise OSError(errno.EINVAL, f"NOTIFY_SOCKET {address!r} is neither a path nor @name")
        self.address = "\0" + address[1:] if address[0] == "@" else address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.setblocking(False)

    def send(self, message: bytes) -> bool:
        """Send one datagram; False if it was dropped because the receiver is full."""
        try:
            self._sock.sendto(message, self.address)
        except (BlockingIOError, InterruptedError):
            return False
        return True

    def close(self) -> None:
        self._sock.close()
