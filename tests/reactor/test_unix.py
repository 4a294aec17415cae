"""reactor.unix: listen_unix's refusals and replacements, peer credentials,
unsent_bytes, peer_hung_up."""

from __future__ import annotations

import errno
import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from reactor.unix import (SocketInUse, UnsafeSocketPath, connect_unix, listen_unix,
                          peer_credentials, peer_hung_up, unsent_bytes)


def test_listen_unix_binds_with_the_mode_and_listens(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    server = listen_unix(str(path), mode=0o600)
    try:
        st = os.lstat(path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        client = connect_unix(str(path), timeout=5.0)
        conn, _ = server.accept()
        client.sendall(b"hi")
        assert conn.recv(2) == b"hi"
        conn.close()
        client.close()
    finally:
        server.close()


def test_listen_unix_default_mode_is_0660(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    server = listen_unix(str(path))
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o660
    server.close()


def test_listen_unix_refuses_when_a_live_server_answers(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    live = listen_unix(str(path))
    try:
        with pytest.raises(SocketInUse):
            listen_unix(str(path))
        assert stat.S_ISSOCK(os.lstat(path).st_mode)  # left in place
    finally:
        live.close()


def test_listen_unix_replaces_a_stale_socket_file(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: connect() is refused
    server = listen_unix(str(path))
    try:
        client = connect_unix(str(path), timeout=5.0)
        client.close()
    finally:
        server.close()


def test_listen_unix_never_follows_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("precious")
    os.chmod(target, 0o644)
    link = tmp_path / "api.sock"
    link.symlink_to(target)
    with pytest.raises(UnsafeSocketPath) as refused:
        listen_unix(str(link), mode=0o666)
    assert refused.value.errno == errno.ELOOP  # refused as a link, not as a plain file
    assert link.is_symlink() and target.read_text() == "precious"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644


def test_listen_unix_refuses_a_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / "api.sock"
    link.symlink_to(tmp_path / "elsewhere.sock")
    with pytest.raises(UnsafeSocketPath):
        listen_unix(str(link))
    assert not (tmp_path / "elsewhere.sock").exists()


def test_listen_unix_refuses_a_symlink_to_a_live_socket(tmp_path: Path) -> None:
    real = tmp_path / "real.sock"
    live = listen_unix(str(real))
    link = tmp_path / "api.sock"
    link.symlink_to(real)
    try:
        with pytest.raises(UnsafeSocketPath):
            listen_unix(str(link))
    finally:
        live.close()


def test_listen_unix_refuses_a_file_that_is_not_a_socket(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    path.write_text("not a socket")
    with pytest.raises(UnsafeSocketPath):
        listen_unix(str(path))
    assert path.read_text() == "not a socket"


def test_refusals_are_os_errors(tmp_path: Path) -> None:
    assert issubclass(SocketInUse, OSError) and issubclass(UnsafeSocketPath, OSError)


def test_peer_credentials_of_a_socketpair_are_ours() -> None:
    a, b = socket.socketpair()
    try:
        assert peer_credentials(a) == (os.getpid(), os.getuid(), os.getgid())
    finally:
        a.close()
        b.close()


def test_peer_credentials_of_an_accepted_connection(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    server = listen_unix(str(path))
    client = connect_unix(str(path), timeout=5.0)
    conn, _ = server.accept()
    try:
        assert peer_credentials(conn) == (os.getpid(), os.getuid(), os.getgid())
    finally:
        for sock in (conn, client, server):
            sock.close()


def test_connect_unix_to_nothing_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        connect_unix(str(tmp_path / "absent.sock"), timeout=1.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIOCOUTQ is Linux's")
def test_unsent_bytes_shrinks_as_the_peer_consumes_whole_packets() -> None:
    a, b = socket.socketpair()
    with a, b:
        assert unsent_bytes(a.fileno()) == 0
        a.sendall(b"x" * 10_000)
        a.sendall(b"y" * 10_000)
        queued = unsent_bytes(a.fileno())
        assert queued >= 20_000, "the figure counts at least the payload"
        assert b.recv(10_000) == b"x" * 10_000   # the first packet, whole
        less = unsent_bytes(a.fileno())
        assert 0 < less < queued
        assert b.recv(10_000) == b"y" * 10_000
        assert unsent_bytes(a.fileno()) == 0


def test_unsent_bytes_raises_oserror_where_it_cannot_be_asked() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(OSError):
        unsent_bytes(write_end)   # closed: EBADF (ENOTSUP off Linux)


@pytest.mark.parametrize("how", ["close", "shut_rdwr", "close_unread"])
def test_peer_hung_up_once_the_peer_will_read_nothing_more(how: str) -> None:
    a, b = socket.socketpair()
    with a, b:
        assert not peer_hung_up(a.fileno())
        a.sendall(b"x" * 10)
        if how != "close_unread":
            assert b.recv(10) == b"x" * 10
        if how == "shut_rdwr":
            b.shutdown(socket.SHUT_RDWR)
        else:
            b.close()
        assert peer_hung_up(a.fileno())


def test_a_half_closed_peer_has_not_hung_up() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.shutdown(socket.SHUT_WR)   # it sends nothing more, but still reads
        assert a.recv(1) == b""
        assert not peer_hung_up(a.fileno())
