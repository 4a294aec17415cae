"""Helpers for the hardening tests: a live reactord in a test's directory, STATS, waits.

Every wait has a deadline (``wait_for``); nothing sleeps to wait for a condition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tools.harness import Conn, ServerProcess, start_reactord, wait_for

__all__ = ["start", "stats", "wait_for", "wait_stats", "Conn", "ServerProcess"]


def start(tmp: Path, *args: str, preexec_fn: Callable[[], None] | None = None) -> ServerProcess:
    """``python -m tools.reactord --socket TMP/reactord.sock ARGS``, accepting."""
    return start_reactord(*args, directory=tmp, preexec_fn=preexec_fn)


def stats(path: str) -> dict[str, Any]:
    """STATS on a connection of its own (it counts itself among the clients)."""
    with Conn(path) as conn:
        return conn.stats()


def wait_stats(conn: Conn, what: str, timeout: float = 10.0, **want: int) -> dict[str, Any]:
    """Poll STATS on ``conn`` until every figure in ``want`` has its value; the last STATS."""
    last: dict[str, Any] = {}

    def reached() -> bool:
        last.update(conn.stats())
        return all(last[name] == value for name, value in want.items())

    try:
        wait_for(reached, timeout=timeout, what=what)
    except TimeoutError as err:
        raise AssertionError(f"{err}; last STATS {last}") from None
    return last
