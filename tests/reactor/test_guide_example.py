"""The example of docs/reactor.md, type-checked and run.

The code between the ``guide-example`` marker lines is shown verbatim in the
guide; ``test_guide_shows_this_example`` fails when the two drift apart.
"""

from __future__ import annotations

# guide-example: begin
import socket

from reactor import BEV_EVENT_EOF, EV_READ, EV_WRITE, BufferEvent, Listener, Reactor

READ_HIGH = 64 * 1024     # never hold more unread input than this
WRITE_HIGH = 256 * 1024   # stop reading while more than this waits to be sent...
WRITE_LOW = 32 * 1024     # ...and read again once it has drained to this


def serve_echo(base: Reactor, sock: socket.socket,
               connections: list[BufferEvent]) -> Listener:
    """Echo every byte back; stop reading from a peer that does not read."""

    def on_read(bev: BufferEvent) -> None:
        bev.write(bev.read())
        if bev.write_full:               # len(output) > WRITE_HIGH: push back
            bev.disable(EV_READ)

    def on_write(bev: BufferEvent) -> None:
        bev.enable(EV_READ)              # output fell from above WRITE_LOW to <= it

    def on_flushed(bev: BufferEvent) -> None:
        bev.close()

    def on_event(bev: BufferEvent, what: int) -> None:
        if what & BEV_EVENT_EOF and len(bev.output):
            # The peer has stopped sending: finish echoing, then close.
            bev.set_watermark(EV_WRITE, 0, 0)    # on_write now means "all sent"
            bev.set_callbacks(None, on_flushed, on_event)
        else:
            bev.close()                          # EOF with nothing pending, or an error

    def on_accept(listener: Listener, conn: socket.socket, address: object) -> None:
        bev = BufferEvent(base, conn)
        bev.set_watermark(EV_READ, 0, READ_HIGH)
        bev.set_watermark(EV_WRITE, WRITE_LOW, WRITE_HIGH)
        bev.set_callbacks(on_read, on_write, on_event)
        bev.enable(EV_READ | EV_WRITE)
        connections.append(bev)

    return Listener(base, sock, on_accept)
# guide-example: end


# Test-only imports, kept below the example so that it reads on its own.
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from reactor.unix import connect_unix, listen_unix
from tests.reactor.util import run_passes, run_until

ROOT = Path(__file__).resolve().parents[2]
PATTERN = bytes(range(251)) * 4096        # ~1 MiB; 251 is prime: misplaced bytes show


def example_source(path: Path) -> str:
    """The lines strictly between the ``guide-example`` markers of ``path``."""
    text = path.read_text()
    match = re.search(r"^# guide-example: begin\n(.*?)^# guide-example: end$", text,
                      re.S | re.M)
    assert match, f"no guide-example markers in {path}"
    return match.group(1)


def doc_example(doc: Path, source: str) -> str:
    """The ```python block that follows ``<!-- guide-example: SOURCE -->`` in ``doc``."""
    marker = re.escape(f"<!-- guide-example: {source} -->")
    match = re.search(marker + r"\s*```python\n(.*?)^```$", doc.read_text(), re.S | re.M)
    assert match, f"{doc} has no example block marked for {source}"
    return match.group(1)


class Echo:
    def __init__(self, tmp_path: Path) -> None:
        self.base = Reactor()
        self.connections: list[BufferEvent] = []
        path = str(tmp_path / "echo.sock")
        self.listener = serve_echo(self.base, listen_unix(path, mode=0o600), self.connections)
        self.client = connect_unix(path)
        self.client.setblocking(False)
        run_until(self.base, lambda: len(self.connections) == 1)
        self.bev = self.connections[0]
        self.sent = 0
        self.received = bytearray()

    def send_some(self) -> None:
        try:
            self.sent += self.client.send(PATTERN[self.sent:self.sent + 65536])
        except BlockingIOError:
            pass

    def receive_some(self) -> bool:
        """Read what is there; False once the server has closed."""
        try:
            data = self.client.recv(1 << 18)
        except BlockingIOError:
            return True
        self.received += data
        return bool(data)


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[Echo]:
    e = Echo(tmp_path)
    yield e
    e.client.close()
    e.listener.close()
    for bev in e.connections:
        bev.close()
    e.base.close()


def reading(bev: BufferEvent) -> bool:
    return bool(bev.enabled & EV_READ)


def test_echo_stops_reading_from_a_peer_that_does_not_read(echo: Echo) -> None:
    def paused() -> bool:
        echo.send_some()
        return not reading(echo.bev)

    run_until(echo.base, paused)
    assert WRITE_HIGH < len(echo.bev.output) <= WRITE_HIGH + READ_HIGH
    held = len(echo.bev.output)
    # The client keeps sending until the kernel refuses; the server holds still.
    for _ in range(50):
        echo.send_some()
        run_passes(echo.base, 1)
    assert not reading(echo.bev)
    assert len(echo.bev.output) <= held, "the output grew while reading was off"
    assert len(echo.bev.input) <= READ_HIGH


def test_echo_resumes_when_drained_and_returns_every_byte(echo: Echo) -> None:
    def done_sending() -> bool:
        echo.send_some()
        echo.receive_some()
        return echo.sent == len(PATTERN)

    run_until(echo.base, done_sending, timeout=30)
    echo.client.shutdown(socket.SHUT_WR)
    run_until(echo.base, lambda: not echo.receive_some(), timeout=30)
    assert echo.received == PATTERN
    assert echo.bev.closed


def test_eof_with_output_pending_flushes_then_closes(echo: Echo) -> None:
    def paused() -> bool:
        echo.send_some()
        return not reading(echo.bev)

    run_until(echo.base, paused)
    echo.client.shutdown(socket.SHUT_WR)
    run_until(echo.base, lambda: not echo.receive_some(), timeout=30)
    assert echo.received == PATTERN[:echo.sent]
    assert echo.bev.closed


def test_guide_shows_this_example() -> None:
    source = example_source(Path(__file__))
    shown = doc_example(ROOT / "docs" / "reactor.md", "tests/reactor/test_guide_example.py")
    assert shown == source, "docs/reactor.md and the example in this file have drifted"
