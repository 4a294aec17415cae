"""Man pages for reactord(8) and reactorctl(8), generated from their argparse parsers.

Run: ``python -m tools.manpage DIR`` writes ``DIR/reactord.8`` and
``DIR/reactorctl.8`` (e.g. DIR = /usr/local/share/man/man8; then ``man reactord``).

The concept: the options and commands of each page come from the parser the
tool itself uses (``build_parser``), with their help text as ``--help`` shows
it (``%(default)s`` expanded), so a page cannot drift from the tool; only the
sections argparse knows nothing of (signals, environment, files, exit status)
are written here.  Output is man(7) roff; every text line is escaped
(backslashes, a leading dot or quote, hyphens of option names).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.version import __version__
from tools import reactorctl, reactord

SECTIONS = {
    "reactord": [
        ("SIGNALS", "SIGTERM, SIGINT: stop accepting and reading, end streams with ESHUTDOWN "
                    "after their queued records, flush for at most 5 s, remove the socket "
                    "file (unless systemd passed it), exit 0. SIGHUP: one log line, and "
                    "--log-file is reopened (for logrotate); it never stops the daemon. "
                    "SIGPIPE is ignored."),
        ("SYSTEMD", "With $NOTIFY_SOCKET the daemon sends READY=1 once it serves, STATUS= "
                    "with clients and table sizes, WATCHDOG=1 every half of $WATCHDOG_USEC "
                    "and STOPPING=1 at SIGTERM. With $LISTEN_FDS=1 and $LISTEN_PID (socket "
                    "activation) descriptor 3 is the API socket; its path is then neither "
                    "created nor removed. Units: reactord.service and reactord.socket."),
        ("LOGGING", "One line per event on stderr, or appended to --log-file: a timestamp "
                    "first, unless stderr is the journal ($JOURNAL_STREAM), where a <N> "
                    "syslog priority starts each line. INFO: start, stop, one audit line per "
                    "ADD, DEL or FLUSH (client, pid, uid, request, records, status). DEBUG "
                    "adds connects, disconnects and one line per request."),
        ("ENVIRONMENT", "REACTORD_SOCKET: the socket path when --socket is not given."),
    ],
    "reactorctl": [
        ("EXIT STATUS", "0 on success; 1 when the daemon answers an error or cannot be "
                        "reached; 2 for a usage error or bad text (nothing is sent); 130 on "
                        "Ctrl-C (a running listing is cancelled first)."),
        ("ENVIRONMENT", "REACTORD_SOCKET: the socket path when -s is not given. PAGER: the "
                        "pager for listings on a terminal (default less -SFRX)."),
        ("COMPLETION", "reactorctl completion bash > /etc/bash_completion.d/reactorctl"),
    ],
}
SEE_ALSO = {"reactord": "reactorctl(8)", "reactorctl": "reactord(8)"}


def escape(text: str) -> str:
    text = text.replace("\\", "\\e")
    return "\\&" + text if text[:1] in (".", "'") else text


def option_item(parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    names = ", ".join("\\fB" + escape(name).replace("-", "\\-") + "\\fR"
                      for name in action.option_strings)
    if action.nargs != 0:
        metavar = action.metavar or (action.dest.upper() if not action.choices
                                     else "{" + ",".join(map(str, action.choices)) + "}")
        names += f" \\fI{escape(str(metavar))}\\fR"
    helptext = parser._get_formatter()._expand_help(action) if action.help else ""
    return [".TP", names, escape(helptext)]


def commands(parser: argparse.ArgumentParser, path: str) -> list[str]:
    out: list[str] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        seen: set[int] = set()
        for name, child in action.choices.items():
            if id(child) in seen:
                continue
            seen.add(id(child))
            usage = child.format_usage().removeprefix("usage: ").strip()
            out += [".TP", f"\\fB{escape(f'{path} {name}'.strip())}\\fR",
                    escape(" ".join(usage.split())), ".br", escape(helps.get(name) or "")]
            out += commands(child, f"{path} {name}".strip())
    return out


def summary(name: str, parser: argparse.ArgumentParser) -> str:
    """The NAME line's text: the description, without a leading ``name:``."""
    return (parser.description or "").removeprefix(f"{name}: ")


def manpage(name: str, parser: argparse.ArgumentParser) -> str:
    """The man(7) page of ``name``, from ``parser``."""
    lines = [f'.TH {name.upper()} 8 "" "{name} {__version__}" "System Administration"',
             ".SH NAME", f"{name} \\- {escape(summary(name, parser))}",
             ".SH SYNOPSIS", escape(" ".join(parser.format_usage().removeprefix(
                 "usage: ").split())),
             ".SH OPTIONS"]
    for action in parser._actions:
        if action.option_strings:
            lines += option_item(parser, action)
    sub = commands(parser, "")
    if sub:
        lines += [".SH COMMANDS", *sub]
    for title, text in SECTIONS[name]:
        lines += [f".SH {title}", escape(text)]
    if parser.epilog:
        lines += [".SH NOTES", escape(parser.epilog)]
    lines += [".SH SEE ALSO", SEE_ALSO[name]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m tools.manpage DIR\n")
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, parser in (("reactord", reactord.build_parser()),
                         ("reactorctl", reactorctl.build_parser())):
        (out / f"{name}.8").write_text(manpage(name, parser))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
