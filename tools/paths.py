"""Where the daemon's socket lives when nobody says: shared by reactord and reactorctl."""

from __future__ import annotations

import os
import tempfile


SYSTEMD_DIR = "/run/reactord"
"""The runtime directory of the shipped systemd units (tools/units)."""


def default_socket_path() -> str:
    """``$REACTORD_SOCKET``, else as root ``/run/reactord/reactord.sock`` when
    that directory exists (the systemd units' socket) or ``/run/reactord.sock``,
    else ``$XDG_RUNTIME_DIR/reactord.sock``, else a per-user path in the temp dir."""
    explicit = os.environ.get("REACTORD_SOCKET")
    if explicit:
        return explicit
    if os.geteuid() == 0:
        if os.path.isdir(SYSTEMD_DIR):
            return os.path.join(SYSTEMD_DIR, "reactord.sock")
        return "/run/reactord.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "reactord.sock")
    return os.path.join(tempfile.gettempdir(), f"reactord-{os.getuid()}.sock")
