"""Stall detection for one connection's output: has the peer consumed anything?

The concept: a write timeout alone cannot tell a stalled reader from a slow
one.  Linux reports a UNIX socket writable only once about 3/4 of its send
buffer has drained, so a client that reads slowly but steadily can see no
send for longer than the timeout.  At each write timeout the session asks
``progressed``: it reads the kernel's unsent figure
(``reactor.unix.unsent_bytes``, SIOCOUTQ) and compares it, and the bytes sent
so far, with those of the previous check: more sent, or less unsent, means
the peer is reading.  The first check after a send has nothing to compare with
and only records the figures, so a peer that reads nothing is closed after two
timeouts at most (and never before one); where the kernel cannot be asked,
after the first.

Invariant: ``written`` counts every byte the session ever queued (the session
adds to it in its one write path), so ``written - len(output)`` is the number
of bytes sent.
"""

from __future__ import annotations

from reactor.unix import unsent_bytes


class StallCheck:
    """The figures of the previous check, and the bytes ever written."""

    __slots__ = ("written", "_sent", "_unsent")

    def __init__(self) -> None:
        self.written = 0
        self._sent = -1      # bytes sent at the last check (-1: none yet)
        self._unsent = 0     # the kernel's unsent figure then

    def progressed(self, fd: int, buffered: int) -> bool:
        """At a write timeout, with ``buffered`` bytes still queued: has the peer
        consumed anything since the last check?  True at the first check after
        a send; False when the kernel cannot be asked."""
        try:
            unsent = unsent_bytes(fd)
        except OSError:
            return False
        sent = self.written - buffered
        progressed = sent != self._sent or unsent < self._unsent
        self._sent, self._unsent = sent, unsent
        return progressed
