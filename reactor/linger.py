"""Lingering close: end a connection without losing the last reply to a reset.

The concept (Apache's lingering_close): a server that closes a TCP socket
while unread input is queued makes the kernel send RST, and a reset can
destroy the reply the peer has not read yet (an HTTP error answered before
the request was read in full, say).  ``linger_close(bev)`` instead lets the
output drain, shuts down the sending side (the peer reads the reply and then
EOF), and reads and discards whatever still arrives until the peer closes,
for at most ``timeout`` seconds and ``max_discard`` bytes; then it closes.

Invariants: the BufferEvent's callbacks and timeouts are replaced (the owner
hears nothing more of it); input is dropped as it arrives, so memory stays at
the read high watermark; ``on_closed`` runs exactly once, when the socket is
closed, whichever limit ended it.
"""

from __future__ import annotations

import socket
from typing import Callable

from reactor.bufferevent import EV_READ, EV_WRITE, BufferEvent

LINGER_TIMEOUT = 2.0
MAX_DISCARD = 1 << 16


def linger_close(bev: BufferEvent, on_closed: Callable[[], None] = lambda: None, *,
                 timeout: float = LINGER_TIMEOUT, max_discard: int = MAX_DISCARD) -> None:
    """Close ``bev`` gracefully; see the module docstring."""
    discarded = 0
    done = False

    def close() -> None:
        nonlocal done
        if not done:
            done = True
            bev.close()
            on_closed()

    def half_close() -> None:
        try:
            bev.socket.shutdown(socket.SHUT_WR)
        except OSError:
            close()

    def on_read(bev: BufferEvent) -> None:
        nonlocal discarded
        discarded += len(bev.read())
        if discarded > max_discard:
            close()

    def on_write(bev: BufferEvent) -> None:
        half_close()

    bev.set_callbacks(on_read, on_write, lambda bev, what: close())
    bev.set_watermark(EV_WRITE, 0, 0)
    bev.set_timeouts(read=timeout, write=timeout)
    bev.enable(EV_READ | EV_WRITE)
    if len(bev.output) == 0:
        half_close()
