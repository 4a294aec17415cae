"""reactorctl: the operators' command line for reactord (in the manner of grcli, ip, birdc).

    reactorctl [-s PATH] [--json] OBJECT VERB [ARGS]

The concept: every command is parsed completely (``tools.ctl.syntax``, over the
library's record grammar ``api.text_grammar``) into request payloads before the
socket is opened, then run as an action over one ``api.client.Client``.
Listings are written as their records arrive (``tools.ctl.output``, records
shown by the library's ``api.text_view``); bulk changes from files are read
whole, then sent in order (``tools.ctl.load``, ``tools.ctl.apply``); bulk
removal is ``tools.ctl.removal``, save and restore ``tools.ctl.saving``.
Global options (``-s``, ``-j``, ``-t``, ``--no-pager``) are accepted before the
object or anywhere after it.

Invariants:
- bad text never reaches the daemon: it is one line naming the bad token (one
  per bad line of a file, up to a limit), exit 2 (argparse's usage errors are
  exit 2 too);
- a request's error names the command, the record and the daemon's reason:
  ``reactorctl: route4 add 10.0.0.0/8 via 99: nexthop 99 does not exist
  (ENOENT)`` (``tools.ctl.failure``), exit 1; a connection failure is
  ``reactorctl: cannot connect to PATH: reason``, exit 1; no traceback for any;
- ``monitor`` follows a WATCH stream (``tools.ctl.monitor``) until Ctrl-C
  (exit 130) or its reader goes away (exit 0), one flushed line per event;
- a listing whose reader goes away (``| head``, quitting the pager) cancels
  its stream (STREAM_CANCEL, drained) and exits 0 silently; Ctrl-C cancels it
  too and exits 130; EXFULL exits 0 with a hint naming the ``--after`` token
  that continues the listing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import stat
import sys
from typing import IO, Any, Generator, Sequence, cast

from api import wire
from api.client import ApiCallError, Client, ClientError, ConnectionClosed, Stream
from api.text_view import View
from api.version import __version__
from tools.ctl.actions import (
    LOAD_HELP, Action, Prepared, bulk_action, change_action, flush_action, get_action,
    load_view, restore_action, save_action,
)
from tools.ctl.completion import bash_script
from tools.ctl.failure import CommandFailed, count, why
from tools.ctl.fullview_load import load_fullview
from tools.ctl.listing import Backlog, Listing
from tools.ctl.monitor import add_parser as add_monitor_parser
from tools.ctl.output import (
    CLIENTS_VIEW, OutputClosed, OutputError, TablePrinter, emit, flush, paged, silence_stdout,
    stats_lines, write,
)
from tools.ctl.syntax import (
    TABLES, CtlSyntaxError, Table, add_payload, del_payload, list_payload, options,
)
from tools.paths import default_socket_path

PROG = "reactorctl"
DEFAULT_TIMEOUT = 30.0

_ROUTE = {"add": "PREFIX via NH_ID [vrf V] [origin N]", "del": "PREFIX [PREFIX ...] [vrf V]",
          "get": "ADDR [vrf V]", "list": "[vrf V]", "flush": "[vrf V]"}
_CT_FLOW = "PROTO SRC:PORT to|-> DST:PORT [iface I]"
SYNTAX: dict[str, dict[str, str]] = {
    "nexthop": {"add": "ID gw ADDR [iface I] [vrf V] [mac MAC] | ID blackhole|reject "
                       "[iface I] [vrf V]", "del": "ID [ID ...]", "get": "ID",
                "list": "[vrf V]", "flush": "[vrf V]"},
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


# -- actions ---------------------------------------------------------------------------


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
    view = table.view
    if args.format in ("json", "load"):
        args.json = True     # show_stream writes each batch's lines as they come
        view = load_view(table) if args.format == "load" else view

    def run(client: Client) -> int:
        listing = Listing(client, table.req(wire.OP_LIST), payload, table.record)
        if not show_stream(listing, view, args, client):
            silence_stdout()
        elif listing.incomplete and listing.last_record is not None:
            key = table.key_text(table.record.unpack(listing.last_record))
            err(f"{table.name} list: stopped after {count(args.max, 'entry', 'entries')} "
                f"(--max); continue with --after {shlex.quote(key)}")
        return 0
    return run


def table_action(args: argparse.Namespace) -> Prepared:
    table, verb = TABLES[args.object], args.verb
    if verb == "add":
        return change_action(table, verb, add_payload(table, args.words,
                                                      replace=args.replace))
    if verb == "del" and args.source is not None:
        if args.words:
            raise CtlSyntaxError(f"unexpected {args.words[0]!r} (keys come from --from)")
        return bulk_action(table, args, args.source, "del",
                           wire.DEL_MISSING_OK if args.missing_ok else 0)
    if verb == "del":
        return change_action(table, verb, del_payload(table, args.words,
                                                      missing_ok=args.missing_ok))
    if verb == "flush":
        return flush_action(table, args)
    if verb == "list":
        return list_action(table, args)
    if verb == "get":
        return get_action(table, args)
    return bulk_action(table, args, args.file, "add", wire.ADD_REPLACE if args.replace else 0)


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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e9:          # nan and inf fail too
        raise argparse.ArgumentTypeError(f"not a number of seconds >= 0: {text!r}")
    return value


def _global_options(parser: argparse.ArgumentParser, here: bool = False) -> None:
    """-s, -j, -t, --no-pager: on the command line's top level, and again on
    every verb (``here``) so that they may come anywhere after it too."""
    unset: Any = argparse.SUPPRESS     # a verb's option, when not given, leaves the top's
    parser.add_argument("-s", "--socket", metavar="PATH", help="the daemon's API socket",
                        default=unset if here else None)
    parser.add_argument("-j", "--json", action="store_true", default=unset if here else False,
                        help="JSON output, one object per line")
    parser.add_argument("-t", "--timeout", type=_seconds, metavar="S",
                        default=unset if here else DEFAULT_TIMEOUT,
                        help=f"give up on a silent daemon after S seconds (default "
                             f"{DEFAULT_TIMEOUT:g}; 0: wait forever)")
    parser.add_argument("--no-pager", action="store_true", default=unset if here else False,
                        help="never page listings ($PAGER, default 'less -SFRX', on a terminal)")


def _verb_parser(objects: Any, name: str, verb: str, syntax: str, helptext: str,
                 options_text: str = "") -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = objects.add_parser(
        verb, help=helptext, description=helptext,
        usage=f"%(prog)s {options_text}{syntax}".rstrip())
    parser.add_argument("words", nargs="*", metavar="ARG", help=syntax or argparse.SUPPRESS)
    _global_options(parser, here=True)
    return parser


def _table_parsers(objects: Any, table: Table) -> None:
    obj = objects.add_parser(table.name, help=f"the {table.name} table",
                             aliases={"nexthop": ["nh"], "conntrack": ["ct"]}.get(table.name, []))
    obj.set_defaults(object=table.name, prepare=table_action)
    _global_options(obj, here=True)
    verbs = obj.add_subparsers(dest="verb", metavar="VERB", required=True)
    syntax = SYNTAX[table.name]
    p = _verb_parser(verbs, table.name, "add", syntax["add"], "add an entry", "[--replace] ")
    p.add_argument("--replace", action="store_true", help="replace an existing entry")
    p = _verb_parser(verbs, table.name, "del", syntax["del"], "delete entries",
                     "[--missing-ok] [--from FILE|-] ")
    p.add_argument("--missing-ok", action="store_true", help="no error for a missing entry")
    p.add_argument("--from", dest="source", metavar="FILE|-",
                   help="delete the keys of a file's lines instead (DEL arguments, or any "
                        "form 'load' reads), checked whole first, then sent in order")
    _batch_option(p)
    if table.get is not None:
        _verb_parser(verbs, table.name, "get", syntax["get"],
                     "show one entry (route: longest prefix match and its nexthop)")
    p = _verb_parser(verbs, table.name, "list", syntax["list"], "list entries in key order",
                     "[--max N] [--after KEY] [--format table|json|load] ")
    p.add_argument("--max", type=_count, default=0, metavar="N",
                   help="stop after N entries (0: all); a hint tells how to continue")
    p.add_argument("--after", metavar="KEY", help=f"start after this key: {AFTER_KEY[table.name]}")
    p.add_argument("--format", choices=("table", "json", "load"), default="table",
                   help="aligned columns (default), JSON lines (as --json), or the add "
                        "lines 'load' reads; 'load' reads all three back")
    _verb_parser(verbs, table.name, "flush", syntax["flush"],
                 "delete all entries (of one scope); atomic for fdb and conntrack, else "
                 "LIST then DEL requests, not atomic: entries added meanwhile may stay")
    p = _verb_parser(verbs, table.name, "load", "", LOAD_HELP, "[--replace] [--check] "
                     "[--batch N] FILE|-")
    p.add_argument("file", metavar="FILE|-")
    p.add_argument("--replace", action="store_true", help="replace existing entries")
    p.add_argument("--check", action="store_true",
                   help="read and check the whole input, send nothing")
    _batch_option(p)


def _batch_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=_count, default=0, metavar="N",
                        help="entries per request (default 0: as many as fit); the "
                             "daemon applies each atomically, so smaller batches keep "
                             "other clients' waits short")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Control reactord: nexthops, routes, fdb, conntrack, stats.",
        epilog="Without -s: $REACTORD_SOCKET; as root /run/reactord/reactord.sock if "
               "/run/reactord exists (the systemd units), else /run/reactord.sock; "
               "$XDG_RUNTIME_DIR/reactord.sock, or reactord-$UID.sock in the temp directory.")
    _global_options(parser)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    objects = parser.add_subparsers(dest="object", metavar="OBJECT", required=True)
    for table in TABLES.values():
        _table_parsers(objects, table)
    for name, prepare, helptext in (("stats", stats_action, "the daemon's figures"),
                                    ("clients", clients_action, "the daemon's connections")):
        p = _verb_parser(objects, name, name, "", helptext)
        p.set_defaults(object=name, verb="", prepare=prepare)
    _save_parsers(objects)
    add_monitor_parser(objects, _verb_parser)
    fullview = objects.add_parser("fullview", help="load a synthetic full view")
    _global_options(fullview, here=True)
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


def _save_parsers(objects: Any) -> None:
    p = _verb_parser(objects, "save", "save", "", "write every table to FILE (- for stdout) "
                     "as text that 'restore' reads", "FILE|-")
    p.add_argument("file", metavar="FILE|-")
    p.set_defaults(object="save", verb="", prepare=save_action)
    p = _verb_parser(objects, "restore", "restore", "", "add every table of a saved FILE "
                     "(nexthops first); refused unless the daemon is empty or --replace",
                     "[--replace] FILE|-")
    p.add_argument("file", metavar="FILE|-")
    p.add_argument("--replace", action="store_true",
                   help="restore into a daemon that holds entries: those with a key in the "
                        "file are replaced, the others kept")
    p.set_defaults(object="restore", verb="", prepare=restore_action)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    # "->" is a word of the conntrack syntax; argparse would take it for an option.
    return build_parser().parse_args(["to" if a == "->" else a for a in argv])


def run(action: Action, path: str, timeout: float, label: str = PROG) -> int:
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
        except CommandFailed as exc:
            for line in exc.lines:
                err(line)
            return exc.code
        except ApiCallError as exc:
            err(f"{label}: {why(exc)}")
        except ConnectionClosed:
            err(f"{path}: the daemon closed the connection")
        except (ClientError, OSError) as exc:
            err(f"{path}: {reason(exc)}")
    return 1


def prepare(args: argparse.Namespace, label: str) -> Prepared:
    """The command's action, or its exit code when it failed (or ended) here."""
    try:
        prepared: Prepared = args.prepare(args)
        return prepared
    except CtlSyntaxError as exc:
        err(f"{label}: {exc}")
        return 2
    except CommandFailed as exc:
        for line in exc.lines:
            err(line)
        return exc.code
    except (OutputClosed, OutputError):
        silence_stdout()
        return 1
    except OSError as exc:
        err(f"cannot open {exc.filename}: {reason(exc)}")
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
    label = " ".join(filter(None, (args.object, args.verb)))
    try:
        prepared = prepare(args, label)
        if isinstance(prepared, int):
            return prepared
        return run(prepared, args.socket or default_socket_path(), args.timeout, label)
    except KeyboardInterrupt:
        silence_stdout()     # unflushed output may face a reader the Ctrl-C killed too
        return 130


if __name__ == "__main__":
    sys.exit(main())
