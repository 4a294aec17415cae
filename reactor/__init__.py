"""reactor: a pure-Python, libevent-style callback reactor.

The public surface is fixed by the project's reactor-api spec:
``Reactor`` (loop.py), ``Timer`` (timers.py), ``BufferEvent`` and its
``EV_*``/``BEV_EVENT_*`` constants (bufferevent.py), ``Listener``
(listener.py).  A BufferEvent's buffers are ``InputBuffer`` (inbuffer.py) and
``OutputQueue`` (outqueue.py).  ``reactor.clock.ManualClock`` drives time in
tests and ``reactor.unix`` holds the UNIX-socket helpers.  Stdlib only; no
asyncio.
"""

from reactor.bufferevent import (BEV_EVENT_EOF, BEV_EVENT_ERROR, BEV_EVENT_READING,
                                 BEV_EVENT_TIMEOUT, BEV_EVENT_WRITING, EV_READ, EV_WRITE,
                                 BufferEvent)
from reactor.listener import Listener
from reactor.loop import Reactor
from reactor.timers import Timer

__all__ = [
    "Reactor", "BufferEvent", "Listener", "Timer",
    "EV_READ", "EV_WRITE",
    "BEV_EVENT_READING", "BEV_EVENT_WRITING", "BEV_EVENT_EOF", "BEV_EVENT_ERROR",
    "BEV_EVENT_TIMEOUT",
]
