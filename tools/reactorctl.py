"""reactorctl: the operators' command line for reactord (in the manner of grcli, ip, birdc).

    reactorctl [-s PATH] [--json] OBJECT VERB [ARGS]

The concept: every command is parsed completely (``tools.ctl.syntax``, over the
library's record grammar ``api.text_grammar``) into request payloads before the
socket is opened, then run as an action over one ``api.client.Client``.
Listings are written as their records arrive (``tools.ctl.output``, records
shown by the library's ``api.text_view``); bulk loads are pipelined batches
(``tools.ctl.load``).

Invariants:
- bad text never reaches the daemon: it is one line naming the bad token, exit 2
  (argparse's usage errors are exit 2 too);
- a request's error is one line ``reactorctl: REQUEST: ERRNO (text)``, exit 1;
  a connection failure is ``reactorctl: cannot connect to PATH: reason``, exit 1;
  no traceback for any of them;
- a listing whose reader goes away (``| head``, quitting the pager) cancels
  its stream (STREAM_CANCEL, drained) and exits 0 silently; Ctrl-C cancels it
  too and exits 130; EXFULL exits 0 with a hint naming the ``--after`` token
  that continues the listing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import stat
import sys
from typing import IO, Any, Callable, Generator, Sequence, cast

from api import wire
from api.client import ApiCallError, Client, ClientError, ConnectionClosed, Stream
from api.text_view import View
from api.version import __version__
from tools.ctl.completion import bash_script
from tools.ctl.listing import Backlog, Listing
from tools.ctl.load import LoadFailed, load_fullview, load_routes
from tools.ctl.output import (
    CLIENTS_VIEW, OutputClosed, OutputError, TablePrinter, flush, paged, silence_stdout,
    stats_lines, write,
)
from tools.ctl.syntax import (
    TABLES, CtlSyntaxError, Table, add_payload, del_payload, flush_payload, list_payload,
    options,
)
from tools.paths import default_socket_path

PROG = "reactorctl"
DEFAULT_TIMEOUT = 30.0
Action = Callable[[Client], int]

_ROUTE = {"add": "PREFIX via NH_ID [vrf V] [origin N]", "del": "PREFIX [PREFIX ...] [vrf V]",
          "get": "ADDR [vrf V]", "list": "[vrf V]", "load": "FILE|-"}
_CT_FLOW = "PROTO SRC:PORT to|-> DST:PORT [iface I]"
SYNTAX: dict[str, dict[str, str]] = {
    "nexthop": {"add": "ID gw ADDR [iface I] [vrf V] [mac MAC] | ID blackhole|reject "
                       "[iface I] [vrf V]", "del": "ID [ID ...]", "get": "ID",
                "list": "[vrf V]"},
    "route4": _ROUTE, "route6": _ROUTE,
    "fdb": {"add": "MAC [bridge B] [vlan V] iface I [static|learned]",
            "del": "MAC [MAC ...] [bridge B] [vlan V]", "list": "[bridge B]",
            "flush": "[bridge B]"},
    "conntrack": {"add": _CT_FLOW + " [state N]", "del": _CT_FLOW, "list": "[iface I]",
                  "flush": "[iface I]"},
}
AFTER_KEY = {"nexthop": "ID", "route4": "PREFIX[@vrfV]", "route6": "PREFIX[@vrfV]",
             "fdb": "MAC[@bridgeB/vlanV]", "conntrack": "PROTO/SRC:PORT->DST:PORT[@ifaceI]"}


def err(text: str) -> None:
    sys.stderr.write(f"{PROG}: {text}\n")
    sys.stderr.flush()


def reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def emit(text: str) -> None:
    write(sys.stdout, text)
    flush(sys.stdout)


# -- actions ---------------------------------------------------------------------------


def one_shot(req_type: int, payload: bytes) -> Action:
    def run(client: Client) -> int:
        client.call(req_type, payload)
        return 0
    return run


def show_records(records: list[tuple[Any, ...]], view: View, as_json: bool,
                 out: IO[str]) -> None:
    if as_json:
        write(out, "".join(view.json_lines(records)))
        flush(out)
    else:
        printer = TablePrinter(out, view.columns)
        printer.add(view.rows(records))
        printer.finish()


def show_stream(source: Listing | Stream[tuple[Any, ...]], view: View,
                args: argparse.Namespace, client: Client) -> bool:
    """Write records as they arrive; False if the reader went away (stream cancelled).

    Into a pipe or a terminal (a pager above all), through a ``Backlog``: the
    socket is read on while the reader waits, and a ``Listing`` pauses and
    resumes instead of stalling (``tools.ctl.listing``).  A Ctrl-C may land in
    the middle of reading a frame: the connection is then closed rather than
    drained (closing it ends the stream in the daemon at once)."""
    with paged(not args.no_pager) as real_out:
        backlog = Backlog(real_out) if can_block(real_out) else None
        out = cast(IO[str], backlog) if backlog is not None else real_out
        batches = source.batches(backlog) if isinstance(source, Listing) else source.batches()
        try:
            if args.json:
                json_lines = view.json_lines
                for batch in batches:
                    write(out, "".join(json_lines(batch)))
            else:
                printer, rows = TablePrinter(out, view.columns), view.rows
                for batch in batches:
                    printer.add(rows(batch))
                printer.finish()
            flush(out)
            if backlog is not None:
                backlog.finish()
        except OutputClosed:
            return False
        except KeyboardInterrupt:
            client.close()
            raise
        finally:
            if isinstance(batches, Generator):
                batches.close()    # cancels and drains a stream that has not ended
            if isinstance(source, Stream):
                source.close()
            if backlog is not None:
                backlog.abandon()
    return True


def can_block(out: IO[str]) -> bool:
    """Whether writing to ``out`` can wait on a reader (a pipe, socket or terminal)."""
    try:
        mode = os.fstat(out.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or out.isatty()


def list_action(table: Table, args: argparse.Namespace) -> Action:
    payload = list_payload(table, args.words, max_count=args.max, after=args.after)

    def run(client: Client) -> int:
        listing = Listing(client, table.req(wire.OP_LIST), payload, table.record)
        if not show_stream(listing, table.view, args, client):
            silence_stdout()
        elif listing.incomplete and listing.last_record is not None:
            key = table.key_text(table.record.unpack(listing.last_record))
            err(f"{table.name} list: stopped after --max {args.max} entries; "
                f"continue with --after {shlex.quote(key)}")
        return 0
    return run


def get_action(table: Table, args: argparse.Namespace) -> Action:
    assert table.get is not None
    payload = table.get(args.words)

    def run(client: Client) -> int:
        record = table.record.unpack(client.call(table.req(wire.OP_GET), payload))
        show_records([record], table.view, args.json, sys.stdout)
        return 0
    return run


def load_action(table: Table, args: argparse.Namespace) -> Action:
    options(args.words, {})
    name = "<stdin>" if args.file == "-" else args.file
    if args.file == "-":
        source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    else:
        source = open(args.file, encoding="utf-8", errors="replace")

    def run(client: Client) -> int:
        with source:
            load_routes(client, table, source, name, replace=args.replace,
                        batch_size=args.batch)
        return 0
    return run


def table_action(args: argparse.Namespace) -> Action:
    table, verb = TABLES[args.object], args.verb
    if verb == "add":
        return one_shot(table.req(wire.OP_ADD), add_payload(table, args.words,
                                                            replace=args.replace))
    if verb == "del":
        return one_shot(table.req(wire.OP_DEL), del_payload(table, args.words,
                                                            missing_ok=args.missing_ok))
    if verb == "flush":
        return one_shot(table.req(wire.OP_FLUSH), flush_payload(table, args.words))
    if verb == "list":
        return list_action(table, args)
    if verb == "get":
        return get_action(table, args)
    return load_action(table, args)


def stats_action(args: argparse.Namespace) -> Action:
    options(args.words, {})

    def run(client: Client) -> int:
        figures = client.stats()
        emit(json.dumps(figures, sort_keys=True) + "\n" if args.json
             else "".join(stats_lines(figures)))
        return 0
    return run


def clients_action(args: argparse.Namespace) -> Action:
    options(args.words, {})

    def run(client: Client) -> int:
        stream = client.stream(wire.CLIENTS, record=wire.CLIENT)
        if not show_stream(stream, CLIENTS_VIEW, args, client):
            silence_stdout()
        return 0
    return run


def fullview_action(args: argparse.Namespace) -> Action:
    options(args.words, {})

    def run(client: Client) -> int:
        s = load_fullview(client, args.routes4, args.routes6, args.nexthop, args.seed,
                          args.batch)
        if args.json:
            emit(json.dumps({"routes4": s.routes4, "routes6": s.routes6, "nexthop": args.nexthop,
                             "nexthop_added": s.nexthop_added, "seconds": round(s.seconds, 3),
                             "routes_per_s": round(s.rate)}) + "\n")
        else:
            emit(f"loaded {s.routes4} IPv4 + {s.routes6} IPv6 routes via nexthop "
                 f"{args.nexthop}{' (added)' if s.nexthop_added else ''} in "
                 f"{s.seconds:.2f} s ({s.rate:,.0f} routes/s)\n")
        return 0
    return run


# -- command line ------------------------------------------------------------------------


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"not a non-negative integer: {text!r}")
    return int(text)


def _verb_parser(objects: Any, name: str, verb: str, syntax: str, helptext: str,
                 options_text: str = "") -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = objects.add_parser(
        verb, help=helptext, usage=f"%(prog)s {options_text}{syntax}".rstrip())
    parser.add_argument("words", nargs="*", metavar="ARG", help=syntax or argparse.SUPPRESS)
    parser.add_argument("-j", "--json", action="store_true", default=argparse.SUPPRESS,
                        help="JSON output, one object per line")
    return parser


def _table_parsers(objects: Any, table: Table) -> None:
    obj = objects.add_parser(table.name, help=f"the {table.name} table",
                             aliases={"nexthop": ["nh"], "conntrack": ["ct"]}.get(table.name, []))
    obj.set_defaults(object=table.name, prepare=table_action)
    verbs = obj.add_subparsers(dest="verb", metavar="VERB", required=True)
    syntax = SYNTAX[table.name]
    p = _verb_parser(verbs, table.name, "add", syntax["add"], "add an entry", "[--replace] ")
    p.add_argument("--replace", action="store_true", help="replace an existing entry")
    p = _verb_parser(verbs, table.name, "del", syntax["del"], "delete entries",
                     "[--missing-ok] ")
    p.add_argument("--missing-ok", action="store_true", help="no error for a missing entry")
    if table.get is not None:
        _verb_parser(verbs, table.name, "get", syntax["get"], "show one entry (route: lookup)")
    p = _verb_parser(verbs, table.name, "list", syntax["list"], "list entries in key order",
                     "[--max N] [--after KEY] ")
    p.add_argument("--max", type=_count, default=0, metavar="N",
                   help="stop after N entries (0: all); a hint tells how to continue")
    p.add_argument("--after", metavar="KEY", help=f"start after this key: {AFTER_KEY[table.name]}")
    if table.flush:
        _verb_parser(verbs, table.name, "flush", syntax["flush"], "delete all entries")
    if "load" in syntax:
        p = _verb_parser(verbs, table.name, "load", "", "add routes from a file or - (stdin)",
                         "[--replace] [--batch N] FILE|-")
        p.add_argument("file", metavar="FILE|-")
        p.add_argument("--replace", action="store_true", help="replace existing routes")
        _batch_option(p)


def _batch_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=_count, default=0, metavar="N",
                        help="routes per ADD request (default 0: as many as fit); the "
                             "daemon applies each atomically, so smaller batches keep "
                             "other clients' waits short")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Control reactord: nexthops, routes, fdb, conntrack, stats.",
        epilog="Without -s: $REACTORD_SOCKET; as root /run/reactord/reactord.sock if "
               "/run/reactord exists (the systemd units), else /run/reactord.sock; "
               "$XDG_RUNTIME_DIR/reactord.sock, or reactord-$UID.sock in the temp directory.")
    parser.add_argument("-s", "--socket", metavar="PATH", help="the daemon's API socket")
    parser.add_argument("-j", "--json", action="store_true", help="JSON output, one object "
                        "per line")
    parser.add_argument("-t", "--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help="give up on a silent daemon after S seconds (default %(default)s)")
    parser.add_argument("--no-pager", action="store_true",
                        help="never page listings ($PAGER, default 'less -SFRX', on a terminal)")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    objects = parser.add_subparsers(dest="object", metavar="OBJECT", required=True)
    for table in TABLES.values():
        _table_parsers(objects, table)
    for name, prepare, helptext in (("stats", stats_action, "the daemon's figures"),
                                    ("clients", clients_action, "the daemon's connections")):
        p = _verb_parser(objects, name, name, "", helptext)
        p.set_defaults(object=name, verb="", prepare=prepare)
    fullview = objects.add_parser("fullview", help="load a synthetic full view")
    verbs = fullview.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = _verb_parser(verbs, "fullview", "load", "", "generate and load routes",
                     "[--routes4 N] [--routes6 M] [--nexthop ID] [--seed S] [--batch N]")
    p.add_argument("--routes4", type=_count, default=1_000_000, metavar="N")
    p.add_argument("--routes6", type=_count, default=0, metavar="M")
    p.add_argument("--nexthop", type=_count, default=1, metavar="ID",
                   help="the routes' nexthop, added as 'gw 192.0.2.1' if missing (default 1)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="the generator's seed (default 0: the daemon's --preload-fullview view)")
    _batch_option(p)
    p.set_defaults(object="fullview", prepare=fullview_action)
    p = objects.add_parser("completion", help="print the shell completion script",
                           usage="%(prog)s bash")
    p.add_argument("shell", choices=["bash"], help="the shell (bash)")
    p.set_defaults(object="completion", verb="")
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    # "->" is a word of the conntrack syntax; argparse would take it for an option.
    return build_parser().parse_args(["to" if a == "->" else a for a in argv])


def run(action: Action, path: str, timeout: float) -> int:
    try:
        client = Client(path, name=PROG, timeout=timeout or None)
    except (OSError, ClientError) as exc:
        err(f"cannot connect to {path}: {reason(exc)}")
        return 1
    with client:
        try:
            return action(client)
        except OutputClosed:
            silence_stdout()
            return 0
        except OutputError as exc:
            silence_stdout()
            err(f"cannot write output: {exc}")
        except LoadFailed as exc:
            plural = "" if exc.loaded == 1 else "s"
            err(f"{exc.where}: {exc.why} ({exc.loaded} route{plural} loaded)")
        except ApiCallError as exc:
            err(str(exc))
        except ConnectionClosed:
            err(f"{path}: the daemon closed the connection")
        except (ClientError, OSError) as exc:
            err(f"{path}: {reason(exc)}")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if args.object == "completion":
        emit(bash_script(build_parser()))
        return 0
    if args.object == "fullview" and args.nexthop == 0:
        err("fullview load: bad --nexthop 0: not in 1..4294967295")
        return 2
    try:
        action: Action = args.prepare(args)
    except CtlSyntaxError as exc:
        err(f"{' '.join(filter(None, (args.object, args.verb)))}: {exc}")
        return 2
    except OSError as exc:
        err(f"cannot open {exc.filename}: {reason(exc)}")
        return 1
    try:
        return run(action, args.socket or default_socket_path(), args.timeout)
    except KeyboardInterrupt:
        silence_stdout()     # unflushed output may face a reader the Ctrl-C killed too
        return 130


if __name__ == "__main__":
    sys.exit(main())
