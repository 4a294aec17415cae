"""The man pages, generated from the tools' parsers, as groff and man render them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.ops.util import require
from tools.harness import ROOT
from tools.manpage import manpage
from tools.reactorctl import build_parser


def render(page: Path) -> str:
    require("groff", "man")
    lint = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
                          capture_output=True, text=True, timeout=60)
    assert (lint.returncode, lint.stderr) == (0, ""), lint
    shown = subprocess.run(["man", "-l", "-P", "cat", str(page)], capture_output=True,
                           text=True, timeout=60, env={"MANWIDTH": "200", "PATH": "/usr/bin:/bin"})
    assert shown.returncode == 0, shown
    return shown.stdout


def test_pages_render_cleanly_and_carry_every_option(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "tools.manpage", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    daemon = render(tmp_path / "reactord.8")
    for text in ("reactord - the control-plane daemon", "--metrics-listen ADDR",
                 "--log-file PATH", "(default 131072)", "SIGHUP", "WATCHDOG=1"):
        assert text in daemon, text
    ctl = render(tmp_path / "reactorctl.8")
    for text in ("-s, --socket PATH", "route4 load", "conntrack add", "completion",
                 "EXIT STATUS"):
        assert text in ctl, text


def test_a_page_follows_its_parser(tmp_path: Path) -> None:
    parser = build_parser()
    parser.add_argument("--brand-new-option", metavar="THING", help="does a new thing")
    page = tmp_path / "new.8"
    page.write_text(manpage("reactorctl", parser))
    assert "--brand-new-option THING" in render(page)
