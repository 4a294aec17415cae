"""Server configuration: every limit of a connection, in one place.

The concept: one frozen dataclass passed from ``reactord``'s command line down
to each session, so that no limit is a hidden constant in the code that
enforces it.

Invariants (checked by ``validate``):
- ``0 <= write_low <= write_high``;
- ``write_high + stream_batch_bytes < output_cap``: a stream pauses with its
  output at most one batch above write_high, below the hard cap, so the
  connection is still read and a paused stream can still get its
  STREAM_CANCEL;
- ``0 < stream_batch_bytes <= STREAM_OVERSHOOT``: stream records never bring
  the output above ``write_high + 65536`` (wire-v1 section 5);
- ``read_high`` holds at least one header; ``max_clients >= 1``; timeouts >= 0.

The field defaults are the daemon's defaults: reactord's flags and the test
server read them from here (``ServerConfig()``), never restate them.

Bounds per connection that follow from these figures:
- output: at most ``output_cap`` + one reply (the cap is checked before each
  request is served; a reply is at most 12 + MAX_PAYLOAD bytes, CLIENTS at
  most one frame per connection);
- input: at most ``read_high`` in the BufferEvent plus one partial frame
  (12 + MAX_PAYLOAD bytes) in the request decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

from api import wire


@dataclass(frozen=True, slots=True)
class ServerConfig:
    write_high: int = wire.DEFAULT_WRITE_HIGH
    write_low: int = wire.DEFAULT_WRITE_LOW
    output_cap: int = wire.DEFAULT_OUTPUT_CAP
    read_high: int = 4 * wire.MAX_PAYLOAD
    stream_batch_bytes: int = wire.STREAM_OVERSHOOT
    max_clients: int = 1024
    stall_timeout: float = 300.0
    """Seconds a connection's pending output may make no progress; 0 disables.
    Progress is a send, or the peer consuming a kernel chunk (SIOCOUTQ shrinking):
    a reader that consumes nothing is closed after one to two of these periods."""
    idle_timeout: float = 0.0
    """Seconds a connection with nothing pending may stay silent; 0 disables."""
    shutdown_flush: float = wire.SHUTDOWN_FLUSH_S

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first inconsistent limit."""
        if not 0 <= self.write_low <= self.write_high:
            raise ValueError(f"need 0 <= write_low ({self.write_low}) <= "
                             f"write_high ({self.write_high})")
        if self.output_cap <= self.write_high + self.stream_batch_bytes:
            raise ValueError(f"output_cap ({self.output_cap}) must exceed write_high + "
                             f"one stream batch ({self.write_high + self.stream_batch_bytes})")
        if not 0 < self.stream_batch_bytes <= wire.STREAM_OVERSHOOT:
            raise ValueError(f"stream_batch_bytes must be in 1..{wire.STREAM_OVERSHOOT}")
        if self.read_high < wire.HEADER_SIZE:
            raise ValueError("read_high must hold at least one header")
        if self.max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        if self.stall_timeout < 0 or self.idle_timeout < 0 or self.shutdown_flush < 0:
            raise ValueError("timeouts must be >= 0")
