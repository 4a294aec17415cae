"""tools.ctl.listing against a real daemon: a listing paused after every batch and
resumed AFTER its last record gives exactly the records of one uninterrupted
stream, and --max stays exact across the pieces (EXFULL when more keys remain)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest

from api import wire
from api.client import Client
from tests.tools.util import start_daemon
from tools.ctl.listing import Backlog, Listing
from tools.harness import ServerProcess

ROUTES = 30_000


class AlwaysFull:
    """Stands in for a Backlog whose reader never keeps up: full after every batch."""

    full = True

    def __init__(self) -> None:
        self.waits = 0

    def wait_low(self) -> None:
        self.waits += 1


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_daemon(tmp_path_factory.mktemp("listing"), "--preload-fullview", str(ROUTES))
    try:
        yield proc
    finally:
        assert proc.terminate() == 0, proc.log()


Records = list[tuple[object, ...]]


def listing(path: str, max_count: int, backlog: AlwaysFull | None) -> tuple[Records, Listing]:
    with Client(path, name="listing", timeout=30) as client:
        lst = Listing(client, wire.ROUTE4_LIST, wire.LIST_REQ.pack(max_count, wire.SCOPE_ALL, 0),
                      wire.ROUTE4)
        records = [r for batch in lst.batches(cast(Backlog, backlog)) for r in batch]
        return records, lst


@pytest.mark.parametrize("max_count", [0, 12_345, ROUTES - 1, ROUTES])
def test_paused_and_resumed_listing_equals_one_stream(daemon: ServerProcess,
                                                      max_count: int) -> None:
    whole, plain = listing(daemon.path, max_count, None)
    backlog = AlwaysFull()
    pieces, resumed = listing(daemon.path, max_count, backlog)
    assert plain.pieces == 1 and resumed.pieces >= 2 and backlog.waits >= resumed.pieces - 1
    assert pieces == whole
    assert len(whole) == (max_count or ROUTES)
    assert resumed.incomplete == plain.incomplete == (0 < max_count < ROUTES)
    assert resumed.last_record == plain.last_record == wire.ROUTE4.pack(*whole[-1])
