"""Helpers for the hardening tests: a live reactord in a test's directory, STATS, waits.

Every wait has a deadline (``wait_for``); nothing sleeps to wait for a condition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tests.support.rawclient import wait_for
from tools.live import Conn, Daemon

__all__ = ["start", "stats", "wait_for", "wait_stats", "Conn", "Daemon"]


def start(tmp: Path, *args: str, preexec_fn: Callable[[], None] | None = None) -> Daemon:
    """``python -m tools.reactord --socket TMP/reactord.sock ARGS``, accepting."""
    return Daemon(*args, directory=str(tmp), preexec_fn=preexec_fn)


def stats(path: str) -> dict[str, Any]:
    """STATS on a connection of its own (it counts itself among the clients)."""
    conn = Conn(path)
    try:
        return conn.stats()
    finally:
        conn.close()


def wait_stats(conn: Conn, what: str, timeout: float = 10.0, **want: int) -> dict[str, Any]:
    """Poll STATS on ``conn`` until every figure in ``want`` has its value; the last STATS."""
    last: dict[str, Any] = {}

    def reached() -> bool:
        last.update(conn.stats())
        return all(last[name] == value for name, value in want.items())

    try:
        wait_for(reached, timeout=timeout, what=what)
    except AssertionError as err:
        raise AssertionError(f"{err}; last STATS {last}") from None
    return last
