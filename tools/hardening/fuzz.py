"""Fuzz a live reactord with random and mutated frames; check every reply against a model.

The concept: ``Fuzzer`` keeps a few connections to a live daemon and, step by
step, sends what ``fuzz_gen`` draws: pipelined bursts of any request type
(valid-looking ADD/DEL with mutated fields, bad lengths, unknown types and
flags), LIST streams with pipelined extras (STATS, GET, a second LIST for
EBUSY, a cancel), streams abandoned mid-way by a disconnect, truncated
frames, oversized payloads (skipped, or abandoned mid-payload), garbage.
Every reply is compared with what ``fuzz_model.Model`` says the spec
prescribes; the model applies what succeeded.  After each batch the daemon
must be idle and intact: HELLO answered, STATS clients == our open
connections, streams_active == 0, nothing buffered, table sizes == the
model's (and every few batches each whole table == the model's).

A violation is recorded with its context and the model is re-read from the
daemon, so one fault does not hide the next.

Usage: ``python -m tools.hardening.fuzz --frames 100000 [--seed N] [--socket PATH]``;
without ``--socket`` it starts its own daemon (preloaded with a full view of
``--preload`` routes) and stops it at the end.  Exit status 1 on any violation.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from api import wire
from tools.hardening.fuzz_gen import Gen
from tools.hardening.fuzz_model import Expect, Model
from tools.hardening.fuzz_steps import Steps
from tools.harness import Conn, Violation, peak_rss_bytes, target, wait_until

MAX_DETAILS = 30


@dataclass
class Report:
    """What a fuzz run did and found."""

    frames: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    steps: Counter[str] = field(default_factory=Counter)
    disconnects: int = 0
    checks: int = 0
    violations: list[str] = field(default_factory=list)

    def violation(self, text: str) -> None:
        self.violations.append(text)

    def summary(self, seconds: float) -> str:
        rate = self.frames / seconds if seconds else 0.0
        statuses = ", ".join(f"{name} {count}" for name, count in self.statuses.most_common())
        steps = ", ".join(f"{name} {count}" for name, count in sorted(self.steps.items()))
        lines = [f"frames sent:     {self.frames} in {seconds:.1f} s ({rate:.0f} frames/s)",
                 f"statuses:        {statuses}",
                 f"steps:           {steps}",
                 f"disconnects:     {self.disconnects}",
                 f"idle checks:     {self.checks}",
                 f"violations:      {len(self.violations)}"]
        lines += [f"  {text}" for text in self.violations[:MAX_DETAILS]]
        return "\n".join(lines)


class Fuzzer:
    """Connections to one daemon, the model of its tables, and the report."""

    def __init__(self, path: str, rng: random.Random, *, conns: int = 4) -> None:
        self.path = path
        self.model = Model()
        self.gen = Gen(self.model, rng)
        self.report = Report()
        self.checker = Conn(path)
        self.conns = [Conn(path) for _ in range(conns)]
        self.steps = Steps(self)
        self.sync()

    @property
    def rng(self) -> random.Random:
        return self.gen.rng

    def close(self) -> None:
        for conn in [self.checker, *self.conns]:
            conn.close()

    def sync(self) -> None:
        """Re-read every table from the daemon into the model."""
        for table in self.model.tables:
            self.model.load(table, self.checker.listing(table.type(wire.OP_LIST)))
        self.model.revision = self.checker.stats()["revision"]

    def replace(self, index: int) -> None:
        """Close connection ``index`` (abruptly) and open a new one in its place."""
        self.conns[index].close()
        self.conns[index] = Conn(self.path)
        self.report.disconnects += 1

    def run(self, frames: int, batch: int = 200, full_every: int = 10) -> Report:
        """Steps until ``frames`` frames were sent, checking the daemon after each batch."""
        batches = 0
        while self.report.frames < frames:
            target = min(frames, self.report.frames + batch)
            while self.report.frames < target:
                self.step()
            batches += 1
            self.check_idle(full=batches % full_every == 0)
        return self.report

    def step(self) -> None:
        try:
            name = self.steps.run_one()
        except (Violation, EOFError, OSError) as err:
            self.report.violation(f"connection failed: {type(err).__name__}: {err}")
            name = "failed"
            self.conns = [Conn(self.path) for _ in self.conns]
            self.sync()
        self.report.steps[name] += 1

    # -- judging replies -----------------------------------------------------------

    def judge(self, req_type: int, expect: Expect, status: int, payload: bytes,
              items: list[bytes] | None) -> bool:
        """Compare one completed request with the model; record a violation. True if equal."""
        self.report.statuses[wire.status_name(status)] += 1
        problem = self._problem(req_type, expect, status, payload, items)
        if problem:
            wanted = expect.final if expect.items is not None else expect.status
            self.report.violation(f"{wire.type_name(req_type)}: {problem} (expected "
                                  f"{wire.status_name(wanted)})")
            if req_type & 0xFFFF in (wire.OP_ADD, wire.OP_DEL, wire.OP_FLUSH):
                self.sync()
        return not problem

    def _problem(self, req_type: int, expect: Expect, status: int, payload: bytes,
                 items: list[bytes] | None) -> str:
        if expect.items is not None:
            if status != expect.final:
                return f"terminator {wire.status_name(status)} after {len(items or [])} items"
            return self._stream_problem(req_type, expect, items or [], payload)
        if status != expect.status:
            return f"status {wire.status_name(status)}"
        if status:
            return _error_payload_problem(expect.index, payload)
        if req_type == wire.HELLO:
            return "" if payload.startswith(expect.reply or b"") else "HELLO reply"
        if req_type == wire.STATS:
            return "" if payload.startswith(b"{") else "STATS reply is not JSON"
        if req_type == wire.CLIENTS:
            bad = [r for r in items or [] if len(r) != wire.CLIENT.size]
            return f"{len(bad)} CLIENTS records of a wrong size" if bad else ""
        if expect.reply is not None:
            table = self.model.by_module[req_type >> 16]
            return "" if table.canonical(payload) == expect.reply else "GET reply differs"
        return f"reply with {len(payload)} payload bytes" if payload else ""

    def _stream_problem(self, req_type: int, expect: Expect, items: list[bytes],
                        terminator: bytes) -> str:
        table = self.model.by_module[req_type >> 16]
        got = [table.canonical(r) if len(r) == table.size else r for r in items]
        wanted = expect.items or []
        if got != wanted:
            first = next((i for i, (a, b) in enumerate(zip(got, wanted)) if a != b),
                         min(len(got), len(wanted)))
            return f"{len(got)} items, expected {len(wanted)}; first difference at {first}"
        if terminator:
            return "a terminator with a payload"
        return ""

    # -- the idle check ------------------------------------------------------------------

    def check_idle(self, full: bool = False) -> None:
        """After a batch: the daemon answers, holds no leaked state, matches the model."""
        self.report.checks += 1
        checker = self.checker
        want = len(self.conns) + 1
        last: dict[str, object] = {}

        def settled() -> bool:
            last.update(checker.stats())
            return (last["clients"], last["streams_active"], last["output_buffered_bytes"]) \
                == (want, 0, 0)

        if not wait_until(settled, 10):
            self.report.violation(f"not idle after a batch: clients {last['clients']} (we hold "
                                  f"{want}), streams_active {last['streams_active']}, "
                                  f"output_buffered_bytes {last['output_buffered_bytes']}")
        hello = checker.call(0x4E110, wire.HELLO, wire.U32.pack(1) + b"fuzz-check")
        if hello.status or not hello.payload.startswith(wire.U32.pack(1)):
            self.report.violation(f"HELLO answered {wire.status_name(hello.status)}")
        sizes = {name: last[name] for name in self.model.sizes()}
        if last["revision"] != self.model.revision:
            self.report.violation(f"revision {last['revision']}, model {self.model.revision}")
            self.sync()
        elif sizes != self.model.sizes():
            self.report.violation(f"table sizes {sizes}, model {self.model.sizes()}")
            self.sync()
        elif full:
            self._compare_tables()

    def _compare_tables(self) -> None:
        for table in self.model.tables:
            listed = self.checker.listing(table.type(wire.OP_LIST))
            if [table.canonical(r) for r in listed] != list(table.rows.values()):
                self.report.violation(f"{table.name}: listing differs from the model")
                self.model.load(table, listed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--socket", default=None, help="fuzz this running daemon instead")
    parser.add_argument("--preload", type=int, default=20_000,
                        help="routes preloaded into the daemon it starts (default %(default)s)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    daemon, path, pid = target(args.socket, args.preload)
    print(f"fuzzing reactord pid {pid} on {path}, seed {seed}", flush=True)
    fuzzer = Fuzzer(path, random.Random(seed))
    started = time.monotonic()
    try:
        report = fuzzer.run(args.frames)
    finally:
        fuzzer.close()
        peak = peak_rss_bytes(pid) if daemon is None or daemon.proc.poll() is None \
            else 0
        code = daemon.terminate() if daemon else 0
    print(report.summary(time.monotonic() - started))
    print(f"daemon peak RSS: {peak / 2**20:.1f} MiB; exit status after SIGTERM: {code}")
    if code:
        report.violation(f"daemon exited {code}")
    return 1 if report.violations else 0


def _error_payload_problem(index: int | None, payload: bytes) -> str:
    """What is wrong with an error reply's payload (wire-v1 section 2), or ``""``: the
    record's index and a reason of at most 200 UTF-8 bytes when a record caused the
    error, else nothing at all."""
    if index is None:
        return f"error reply with {len(payload)} payload bytes" if payload else ""
    if len(payload) < wire.ERROR_INDEX.size:
        return f"error reply of {len(payload)} bytes, without the record index {index}"
    (told,) = wire.ERROR_INDEX.unpack_from(payload)
    reason = payload[wire.ERROR_INDEX.size:]
    if told != index:
        return f"error reply names record {told}, not {index}"
    if len(reason) > wire.ERROR_REASON_MAX:
        return f"error reason of {len(reason)} bytes"
    try:
        reason.decode("utf-8")
    except UnicodeDecodeError:
        return "error reason is not UTF-8"
    return ""


if __name__ == "__main__":
    sys.exit(main())

