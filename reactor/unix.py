"""UNIX-domain socket helpers: the project's rule is that only reactor/ touches
sockets, so the daemon's listening socket and peer credentials live here.

The concept: ``listen_unix`` owns a filesystem path safely.
Invariants of ``listen_unix``:
- it never follows a symlink at the path: the path is examined with
  ``lstat``; a symlink or any non-socket file is refused (``UnsafeSocketPath``);
- an existing socket file is probed with ``connect()``: if a server answers
  (or its backlog is full) the call refuses (``SocketInUse``); if the connect
  is refused the file is stale and is replaced;
- a ``bind`` failure names the path (and, for ENOENT, the missing directory);
- the socket file is created with exactly ``mode``: ``bind`` runs under a
  umask derived from ``mode`` (a ``chmod`` by path after ``bind`` could be
  redirected through a symlink swapped in meanwhile); a final ``chmod`` runs
  only if something like a default ACL changed the bits, after an ``lstat``
  check that the path is still a socket.  The umask is process-wide: call it
  before starting threads.

``peer_credentials`` reads SO_PEERCRED (Linux): (pid, uid, gid) of the process
that connected (for a socketpair: that created it).  On a socket with no peer
the kernel answers (0, -1, -1); where SO_PEERCRED does not exist it raises
``OSError(ENOTSUP)``.

``unsent_bytes`` (an extra beyond reactor-api.md) asks the kernel how much of
what was sent on a stream socket its peer has not consumed yet: ioctl
SIOCOUTQ, which is ``termios.TIOCOUTQ`` on Linux.  On AF_UNIX the figure is
the send-buffer memory still held (payload plus per-packet overhead), and it
drops only when the reader has consumed a whole kernel packet (up to about
32 KiB): a measure of progress to compare with an earlier reading of the same
socket, not a byte count.  Where the ioctl does not exist (any platform but
Linux) or the socket refuses it, it raises ``OSError``.

``peer_hung_up`` (an extra beyond reactor-api.md) tells a peer that closed (or
shut down both directions: it will read nothing more) from one that only shut
down its sending side (``shutdown(SHUT_WR)``, still reading): ``poll()``
reports POLLHUP for the first only.  It never blocks.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import stat
import struct
import sys

_UCRED = struct.Struct("3i")
_INT = struct.Struct("i")
_SIOCOUTQ: int | None = None
if sys.platform.startswith("linux"):
    import fcntl
    import termios
    _SIOCOUTQ = termios.TIOCOUTQ


class SocketInUse(OSError):
    """A live server already answers on the path."""


class UnsafeSocketPath(OSError):
    """The path is a symlink or a file that is not a socket."""


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the peer of a connected AF_UNIX socket."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        raise OSError(errno.ENOTSUP, "SO_PEERCRED is not supported on this platform")
    pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, option, _UCRED.size))
    return pid, uid, gid


def unsent_bytes(fd: int) -> int:
    """What the peer of the stream socket ``fd`` has not consumed yet (SIOCOUTQ;
    see the module docstring); ``OSError`` where it cannot be asked."""
    if _SIOCOUTQ is None:
        raise OSError(errno.ENOTSUP, "SIOCOUTQ is not supported on this platform")
    (queued,) = _INT.unpack(fcntl.ioctl(fd, _SIOCOUTQ, bytes(_INT.size)))
    return int(queued)


def peer_hung_up(fd: int) -> bool:
    """True when the peer of the connected stream socket ``fd`` will read
    nothing more (POLLHUP); False while it may, or where poll() is missing."""
    poll = getattr(select, "poll", None)
    if poll is None:
        return False
    poller = poll()
    poller.register(fd, 0)   # POLLHUP is reported whatever the mask asks for
    return any(events & select.POLLHUP for _fd, events in poller.poll(0))


def listen_unix(path: str, *, mode: int = 0o660, backlog: int = 128) -> socket.socket:
    """A blocking AF_UNIX stream socket bound at ``path`` (file mode ``mode``)
    and listening; see the module docstring for the refusals."""
    _clear_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old_umask = os.umask(~mode & 0o777)
        try:
            sock.bind(path)
        except OSError as exc:
            raise _bind_error(exc, path) from None
        finally:
            os.umask(old_umask)
        _ensure_mode(path, mode)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class BindError(OSError):
    """``bind()`` failed; ``str()`` names the path (and a missing directory)."""

    def __str__(self) -> str:
        return str(self.strerror)


def _bind_error(exc: OSError, path: str) -> OSError:
    """``exc`` naming ``path``: ``bind()`` leaves it out, and a missing directory
    says ENOENT like a missing file."""
    why = exc.strerror or str(exc)
    directory = os.path.dirname(os.path.abspath(path))
    if exc.errno == errno.ENOENT and not os.path.isdir(directory):
        why = f"no such directory {directory}"
    return BindError(exc.errno, f"cannot bind {path}: {why}")


def connect_unix(path: str, timeout: float | None = None) -> socket.socket:
    """A blocking client socket connected to ``path`` (``timeout`` applies to
    every later operation too, as ``settimeout`` does)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


def _clear_stale_socket(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeSocketPath(errno.ELOOP, "refusing to listen through a symbolic link", path)
    if not stat.S_ISSOCK(st.st_mode):
        raise UnsafeSocketPath(errno.EEXIST, "exists and is not a socket", path)
    if _server_answers(path):
        raise SocketInUse(errno.EADDRINUSE, "a server is already listening there", path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # gone meanwhile: fine, bind will create it


def _server_answers(path: str) -> bool:
    """True if a connect() to ``path`` reaches a listening socket."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except BlockingIOError:
        return True  # EAGAIN: a listener exists, its backlog is full
    finally:
        probe.close()
    return True


def _ensure_mode(path: str, mode: int) -> None:
    st = os.lstat(path)
    if not stat.S_ISSOCK(st.st_mode):
        raise UnsafeSocketPath(errno.EEXIST, "replaced while binding", path)
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
