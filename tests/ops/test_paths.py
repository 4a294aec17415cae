"""Where both tools look for the socket when nobody says (tools.paths)."""

from __future__ import annotations

import os

import pytest

from tools import paths


@pytest.mark.parametrize("euid, systemd_dir, xdg, expected", [
    (0, True, None, "/run/reactord/reactord.sock"),     # the shipped units' socket
    (0, False, None, "/run/reactord.sock"),
    (1000, True, "/run/user/1000", "/run/user/1000/reactord.sock"),
])
def test_default_socket_path(monkeypatch: pytest.MonkeyPatch, euid: int, systemd_dir: bool,
                             xdg: str | None, expected: str) -> None:
    monkeypatch.delenv("REACTORD_SOCKET", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    real_isdir = os.path.isdir
    monkeypatch.setattr(os.path, "isdir",
                        lambda p: systemd_dir if p == paths.SYSTEMD_DIR else real_isdir(p))
    if xdg:
        monkeypatch.setenv("XDG_RUNTIME_DIR", xdg)
    assert paths.default_socket_path() == expected
    monkeypatch.setenv("REACTORD_SOCKET", "/elsewhere.sock")
    assert paths.default_socket_path() == "/elsewhere.sock"
