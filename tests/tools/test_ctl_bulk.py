"""reactorctl's bulk parts without a daemon: reading what it prints back, checking a
whole input, sending in order under the prefix rule (with a fake client), the
full view's pipeline, the progress line.
"""

from __future__ import annotations

import io
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api import wire
from api.client import ApiCallError, Client
from api.text_grammar import TextTable
from tools.ctl.apply import Interrupted, apply_records, per_request
from tools.ctl.failure import CommandFailed
from tools.ctl.formats import Reader
from tools.ctl.fullview_load import Pipeline
from tools.ctl.load import Bulk, interrupted
from tools.ctl.progress import Progress
from tools.ctl.records import ERRORS_SHOWN, Records, add_records, del_records, read_records
from tools.ctl.syntax import CONNTRACK, FDB, NEXTHOP, ROUTE4, ROUTE6

EXAMPLES: dict[str, list[str]] = {
    "nexthop": ["1 gw 192.0.2.1 iface 2 vrf 3 mac 02:00:00:00:00:01", "2 blackhole",
                "3 reject iface 4", "4 gw 2001:db8::1"],
    "route4": ["10.0.0.0/8 via 1", "10.1.0.0/16 via 2 vrf 3 origin 186", "0.0.0.0/0 via 1"],
    "route6": ["2001:db8::/32 via 1 vrf 2", "::/0 via 4 origin 7"],
    "fdb": ["02:00:00:00:00:01 bridge 1 vlan 10 iface 3",
            "02:00:00:00:00:02 iface 4 learned"],
    "conntrack": ["tcp 192.0.2.1:1234 to 198.51.100.2:80 iface 1 state 3",
                  "udp [2001:db8::1]:53 to [2001:db8::2]:5353"],
}
TABLES: dict[str, TextTable] = {t.name: t for t in (NEXTHOP, ROUTE4, ROUTE6, FDB, CONNTRACK)}


def printed(table: TextTable, records: list[tuple[Any, ...]], form: str) -> list[str]:
    """What reactorctl prints for ``records`` in ``form``."""
    if form == "load":
        return [line + "\n" for line in table.lines(records)]
    if form == "json":
        return table.view.json_lines(records)
    rows = [table.view.columns, *table.view.rows(records)]
    return ["   ".join(str(cell) for cell in row) + "\n" for row in rows]


def read_back(table: TextTable, lines: list[str]) -> list[bytes]:
    records = read_records(lines, table, "f", add_records(table), table.record.size)
    return [records.record(i) for i in range(len(records))]


@pytest.mark.parametrize("form", ["load", "json", "table"])
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_printed_form_reads_back(name: str, form: str) -> None:
    table = TABLES[name]
    wanted = [table.add(text.split()) for text in EXAMPLES[name]]
    records = [table.record.unpack(r) for r in wanted]
    assert read_back(table, printed(table, records, form)) == wanted


@given(st.lists(st.tuples(st.integers(0, 0xFFFE), st.integers(0, 32), st.integers(0, 255),
                          st.integers(0, 2**32 - 1), st.integers(1, 2**32 - 1)), max_size=20))
def test_route4_forms_read_back(fields: list[tuple[int, int, int, int, int]]) -> None:
    records = [(vrf, plen, origin, (addr >> (32 - plen) << (32 - plen) if plen else 0)
                .to_bytes(4, "big"), nh) for vrf, plen, origin, addr, nh in fields]
    wanted = [wire.ROUTE4.pack(*r) for r in records]
    for form in ("load", "json", "table"):
        assert read_back(ROUTE4, printed(ROUTE4, records, form)) == wanted
    assert ROUTE4.lines(records) == [ROUTE4.line(r) for r in records]


def test_listings_may_be_concatenated_and_mixed_with_add_lines() -> None:
    lines = ["10.0.0.0/8 via 1   # an add line\n", "VRF DESTINATION NEXTHOP ORIGIN\n",
             "0  10.1.0.0/16  1  0\n", "\n", "VRF  DESTINATION  NEXTHOP  ORIGIN\n",
             "2  10.2.0.0/16  3  4\n", '{"prefix": "10.3.0.0/16", "nh_id": 5}\n']
    assert [ROUTE4.line(ROUTE4.record.unpack(r)) for r in read_back(ROUTE4, lines)] == [
        "10.0.0.0/8 via 1", "10.1.0.0/16 via 1", "10.2.0.0/16 via 3 vrf 2 origin 4",
        "10.3.0.0/16 via 5"]


@pytest.mark.parametrize(("line", "message"), [
    ('{"prefix": "10.0.0.0/8"}', "missing field 'nh_id'"),
    ('{"prefix": "10.0.0.0/8", "nh_id": true}', "bad field 'nh_id': true"),
    ('{"prefix": "10.0.0.0/8", "nh_id": [1]}', "bad field 'nh_id': [1]"),
    ('{"prefix": "10.0.0.0/8" "nh_id": 1}', "bad JSON: "),
    ('{"prefix": "10.0.0.1/8", "nh_id": 1}', "bad IPv4 prefix '10.0.0.1/8': host bits set"),
])
def test_bad_json_lines_are_named(line: str, message: str) -> None:
    with pytest.raises(CommandFailed) as info:
        read_back(ROUTE4, [line + "\n"])
    assert info.value.code == 2 and info.value.lines[0].startswith(f"f:1: {message}")


def test_a_listing_row_with_the_wrong_columns_is_named() -> None:
    reader = Reader(NEXTHOP)
    assert reader.words("ID VRF TYPE GATEWAY IFACE MAC\n") is None
    with pytest.raises(ValueError, match="a nexthop listing row has 6 columns .*, this one 5"):
        reader.words("1 0 gw 192.0.2.1 0\n")
    with pytest.raises(ValueError, match="a blackhole nexthop has no gateway"):
        reader.words("1 0 blackhole 192.0.2.1 0 -\n")


def test_every_bad_line_is_reported_up_to_a_limit() -> None:
    lines = ["10.0.0.0/8 via 1\n"] + [f"10.0.{i}.1/24 via 1\n" for i in range(30)]
    with pytest.raises(CommandFailed) as info:
        read_records(lines, ROUTE4, "r.txt", add_records(ROUTE4), ROUTE4.record.size)
    out = info.value.lines
    assert (info.value.code, len(out)) == (2, ERRORS_SHOWN + 1)
    assert out[0] == "r.txt:2: bad IPv4 prefix '10.0.0.1/24': host bits set"
    assert out[-1] == f"r.txt: 30 bad lines (the first {ERRORS_SHOWN} shown); nothing was sent"


def test_a_bad_line_with_control_characters_stays_one_line() -> None:
    with pytest.raises(CommandFailed) as info:
        read_back(ROUTE4, ["10.0.0.0/8 via 1 \x1b[2J\n"])
    assert info.value.lines[0] == r"f:1: unexpected '\x1b[2J' (expected vrf, origin)"


def test_del_lines_take_del_arguments_or_add_lines() -> None:
    lines = ["10.0.0.0/8 10.1.0.0/16 vrf 2\n", "10.2.0.0/16 via 9 origin 3\n",
             "VRF DESTINATION NEXTHOP ORIGIN\n", "4 10.3.0.0/16 1 0\n"]
    records = read_records(lines, ROUTE4, "d", del_records(ROUTE4), ROUTE4.record.size)
    assert [ROUTE4.del_text(records.record(i)) for i in range(len(records))] == [
        "10.0.0.0/8 vrf 2", "10.1.0.0/16 vrf 2", "10.2.0.0/16", "10.3.0.0/16 vrf 4"]
    assert list(records.lines) == [1, 1, 2, 4]
    ids = read_records(["1 2 3\n", "4 blackhole\n"], NEXTHOP, "n", del_records(NEXTHOP), 4)
    assert ids.blob == b"".join(wire.U32.pack(i) for i in (1, 2, 3, 4))
    with pytest.raises(CommandFailed, match="n:1: bad nexthop id 'x'"):
        read_records(["x\n"], NEXTHOP, "n", del_records(NEXTHOP), 4)


# -- sending under the prefix rule ------------------------------------------------------------


class Daemon:
    """A fake daemon: refuses the records in ``bad`` (naming them unless ``anonymous``),
    applies requests whole otherwise; records what it applied and every request."""

    def __init__(self, bad: set[bytes], anonymous: bool = False) -> None:
        self.bad = bad
        self.anonymous = anonymous
        self.applied: list[bytes] = []
        self.requests: list[int] = []

    def call(self, req_type: int, payload: bytes) -> bytes:
        records = [payload[i:i + 12] for i in range(4, len(payload), 12)]
        self.requests.append(len(records))
        for index, record in enumerate(records):
            if record in self.bad:
                raise ApiCallError("ROUTE4_ADD", wire.ENOENT, 1,
                                   index=None if self.anonymous else index, reason="no")
        self.applied += records
        return b""


def records_of(count: int, lines_per_record: int = 1) -> Records:
    records = Records(ROUTE4, 12, "r.txt")
    for i in range(count):
        records.add(wire.ROUTE4.pack(0, 24, 0, i.to_bytes(3, "big") + b"\0", 1),
                    1 + i * lines_per_record)
    return records


@pytest.mark.parametrize("batch", [0, 1, 7, 1000])
@pytest.mark.parametrize("failing", [0, 1, 6, 7, 2500, 4999])
def test_exactly_the_records_before_the_refused_one_are_applied(batch: int,
                                                                failing: int) -> None:
    records = records_of(5000)
    daemon = Daemon({records.record(failing)})
    reported: list[int] = []
    out = apply_records(cast(Client, daemon), wire.ROUTE4_ADD, 0, records, batch,
                        reported.append)
    assert (out.applied, out.failed_at, out.unknown) == (failing, failing, None)
    assert daemon.applied == [records.record(i) for i in range(failing)]
    step = per_request(12, batch)
    whole, head = divmod(failing, step)
    assert daemon.requests == [step] * whole + [min(step, 5000 - whole * step)] + \
        ([head] if head else []), "in order, the refused request's head sent again, no more"
    assert reported == [min(step * (i + 1), failing) for i in range(whole + bool(head))]


def test_a_later_refusal_of_the_head_moves_the_stop_back() -> None:
    records = records_of(100)

    class Changing(Daemon):
        def call(self, req_type: int, payload: bytes) -> bytes:
            if len(self.requests) == 1:             # another client added record 40 meanwhile
                self.bad.add(records.record(40))
            return super().call(req_type, payload)

    daemon = Changing({records.record(70)})
    out = apply_records(cast(Client, daemon), wire.ROUTE4_ADD, 0, records)
    assert (out.applied, out.failed_at) == (40, 40)
    assert daemon.requests == [100, 70, 40] and len(daemon.applied) == 40


def test_an_anonymous_refusal_applies_nothing_of_its_request() -> None:
    records = records_of(30)
    daemon = Daemon({records.record(25)}, anonymous=True)
    out = apply_records(cast(Client, daemon), wire.ROUTE4_ADD, 0, records, batch=10)
    assert (out.applied, out.failed_at, out.unknown) == (20, None, (20, 30))
    assert daemon.requests == [10, 10, 10]


def test_all_records_applied() -> None:
    records = records_of(25)
    daemon = Daemon(set())
    out = apply_records(cast(Client, daemon), wire.ROUTE4_ADD, 0, records, batch=10)
    assert (out.applied, out.error, out.requests) == (25, None, 3)
    assert daemon.requests == [10, 10, 5]


# -- the full view's pipeline --------------------------------------------------------------------


class FakeClient:
    """Records sends; fails the reply of one chosen request; counts what is in flight."""

    def __init__(self, fail_at: int = 0) -> None:
        self.sent: list[int] = []
        self.inflight = 0
        self.max_inflight = 0
        self.fail_at = fail_at

    def send(self, req_type: int, payload: bytes) -> int:
        self.sent.append((len(payload) - 4) // wire.ROUTE4.size)
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        return len(self.sent)

    def reply(self, req_id: int) -> bytes:
        self.inflight -= 1
        if req_id == self.fail_at:
            raise ApiCallError("ROUTE4_ADD", wire.EEXIST, req_id)
        return b""


def test_pipeline_keeps_a_window_and_reaps_everything() -> None:
    fake = FakeClient()
    pipe = Pipeline(cast(Client, fake), wire.ROUTE4_ADD, 0, wire.ROUTE4.size, window=3)
    assert pipe.per_batch == (131072 - 4) // 12
    for _ in range(10):
        pipe.send(bytes(12 * 5), 5, "x")
    assert pipe.close() == 50
    assert fake.max_inflight == 3 and fake.inflight == 0


def test_pipeline_stops_sending_after_an_error_reply() -> None:
    fake = FakeClient(fail_at=2)
    pipe = Pipeline(cast(Client, fake), wire.ROUTE4_ADD, 0, wire.ROUTE4.size, window=2)
    with pytest.raises(CommandFailed) as info:
        for n in range(10):
            pipe.send(bytes(12), 1, f"route4 records {n + 1}-{n + 1}")
    assert info.value.lines == ["route4 records 2-2: object already exists (EEXIST); 2 routes "
                                "loaded (the batches already sent included)"]
    assert len(fake.sent) == 3 and fake.inflight == 0     # the one in flight was reaped


# -- the progress line ------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True

    def screen(self) -> str:
        """The line as a terminal shows it: ``\\r`` returns to column 0, text overwrites."""
        line: list[str] = []
        column = 0
        for char in self.getvalue():
            if char == "\r":
                column = 0
                continue
            line[column:column + 1] = [char]
            column += 1
        return "".join(line)


def test_a_shorter_progress_text_leaves_nothing_of_the_longer_one() -> None:
    term = Terminal()
    progress = Progress(term)
    progress.show("r.txt: 900,000 of 1,000,000 routes applied (1,234,567/s)", force=True)
    progress.show("r.txt: 1,000,000 of 1,000,000 routes applied (812/s)", force=True)
    assert term.screen().rstrip() == "r.txt: 1,000,000 of 1,000,000 routes applied (812/s)"
    progress.clear()
    assert term.screen().strip() == ""
    quiet = io.StringIO()                        # not a terminal: nothing at all
    Progress(quiet).show("x", force=True)
    assert quiet.getvalue() == ""


def test_ctrl_c_says_what_was_applied_and_what_was_in_flight() -> None:
    records = records_of(50, lines_per_record=2)          # lines 1, 3, 5, ...

    class Interrupting(Daemon):
        def call(self, req_type: int, payload: bytes) -> bytes:
            if len(self.requests) == 2:
                raise KeyboardInterrupt
            return super().call(req_type, payload)

    daemon = Interrupting(set())
    with pytest.raises(Interrupted) as info:
        apply_records(cast(Client, daemon), wire.ROUTE4_ADD, 0, records, batch=10)
    out = info.value.outcome
    assert (out.applied, out.unknown) == (20, (20, 30)) and daemon.requests == [10, 10]
    bulk = Bulk(records, "add", 0, Progress(io.StringIO()))
    failure = interrupted(bulk, out)
    assert failure.code == 130 and failure.lines == [
        "r.txt: interrupted; applied the 20 routes of lines 1-39; lines 41-59 were one "
        "request in flight: all or none of them applied; nothing from line 61 on"]
