"""How reactorctl says that a command failed: what, where, why, and the errno.

The concept: a failed command is ``CommandFailed``: the lines reactorctl
prints (each prefixed ``reactorctl: ``) and its exit code.  A request refused
by the daemon is written ``WHAT: REASON (ERRNO)``, where WHAT is the command
and the record it is about (``route4 add 10.0.0.0/8 via 99``, or
``routes.txt:25001: route4 add ...`` for a line of a file) and REASON the
daemon's words naming the object (wire-v1 section 2: ``nexthop 99 does not
exist``), or, when the reply carries none, what the command knows, or else
the status's text.

``count`` and ``noun`` write the numbers of summaries: ``25,000 routes``.

Invariants:
- every line is one line: no newline or control character from the daemon's
  reason or a file's text reaches the terminal (they are escaped);
- exit codes: 1 for a daemon's refusal or an I/O problem, 2 for bad input
  found before anything was sent.
"""

from __future__ import annotations

from api import wire
from api.client_errors import ApiCallError


class CommandFailed(Exception):
    """A command failed: ``lines`` to print (without the ``reactorctl: `` prefix)."""

    def __init__(self, *lines: str, code: int = 1) -> None:
        super().__init__(*lines)
        self.lines = [one_line(line) for line in lines]
        self.code = code


def one_line(text: str) -> str:
    """``text`` with control characters (newlines included) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def why(exc: ApiCallError, known: str = "") -> str:
    """``REASON (ERRNO)``: the daemon's reason, else ``known``, else the status text."""
    reason = exc.reason or known or wire.STATUS_TEXT.get(exc.status, "unknown status")
    return f"{reason} ({exc.errno_name})"


def refused(what: str, exc: ApiCallError, known: str = "") -> CommandFailed:
    """``WHAT: REASON (ERRNO)``, exit 1."""
    return CommandFailed(f"{what}: {why(exc, known)}")


def count(n: int, singular: str, plural: str = "") -> str:
    """``1 route``, ``25,000 routes`` (numbers with thousands separators)."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


NOUNS = {"nexthop": ("nexthop", "nexthops"), "route4": ("route", "routes"),
         "route6": ("route", "routes"), "fdb": ("fdb entry", "fdb entries"),
         "conntrack": ("conntrack entry", "conntrack entries")}


def noun(table: str, n: int) -> str:
    """``1 route``, ``25,000 routes``, ``2 fdb entries`` for the table named ``table``."""
    return count(n, *NOUNS[table])
