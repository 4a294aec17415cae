"""The daemon's own process figures, for STATS and the metrics: memory, CPU, descriptors.

The concept: what an operator asks of any daemon ("how big is it, how busy,
how long up"), read from the kernel on demand, never cached.  Linux's /proc is
the source; elsewhere (or if /proc is not mounted) each figure is ``None``
and its users leave it out rather than invent a value.

Costs: ``rss_bytes`` reads one small file (/proc/self/statm); ``cpu_seconds``
calls ``os.times``; ``open_fds`` lists /proc/self/fd (one entry per
descriptor, bounded by the daemon's --max-clients and RLIMIT_NOFILE).
"""

from __future__ import annotations

import os
import resource
import time

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_START_WALL = time.time()


def rss_bytes() -> int | None:
    """Resident set size now, in bytes (statm's second field, in pages)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far."""
    times = os.times()
    return times.user + times.system


def open_fds() -> int | None:
    """Open file descriptors of this process."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1   # listdir's own descriptor
    except OSError:
        return None


def max_fds() -> int | None:
    """The soft RLIMIT_NOFILE (None when unlimited)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def start_time() -> float:
    """When this process imported this module (seconds since the epoch): close
    enough to its start for a daemon, which imports it at once."""
    return _START_WALL
