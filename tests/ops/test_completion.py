"""reactorctl's bash completion, generated from its parser, run by a real bash."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.ops.util import env, tool
from tools.ctl.completion import bash_script
from tools.reactorctl import build_parser

CASES = [
    (["reactorctl", ""], "nexthop nh route4 route6 fdb conntrack ct stats clients save restore "
                         "monitor fullview completion"),
    (["reactorctl", "ro"], "route4 route6"),
    (["reactorctl", "nh", ""], "add del get list flush load"),
    (["reactorctl", "-s", "/tmp/x.sock", "ct", "a"], "add"),
    (["reactorctl", "route4", "add", "10.0.0.0/8", ""], "via vrf origin"),
    (["reactorctl", "nexthop", "add", "1", "b"], "blackhole"),
    (["reactorctl", "fdb", "add", "02:00:00:00:00:01", "iface", "3", "s"], "static"),
    (["reactorctl", "route4", "list", "--"],
     "--help --json --no-pager --socket --timeout --max --after --format"),
    (["reactorctl", "route4", "list", "--max", ""], ""),
    (["reactorctl", "--"], "--help --json --no-pager --version --socket --timeout"),
    (["reactorctl", "completion", ""], "bash"),
    (["reactorctl", "monitor", "--"],
     "--help --json --no-pager --snapshot --no-self --socket --timeout --from"),
]


def complete(script: Path, words: list[str], cwd: Path) -> str:
    """COMPREPLY of the generated function for ``words`` (the last is being typed)."""
    program = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
               '_reactorctl; printf "%s\\n" "${COMPREPLY[@]}"')
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", program, "bash",
                             str(script), *words], capture_output=True, text=True, timeout=30,
                            cwd=cwd)
    assert result.returncode == 0 and result.stderr == "", result
    return " ".join(result.stdout.split())


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = subprocess.run([tool("reactorctl"), "completion", "bash"], capture_output=True,
                            text=True, timeout=30, env=env())
    assert result.returncode == 0 and result.stderr == ""
    path = tmp_path_factory.mktemp("completion") / "reactorctl.bash"
    path.write_text(result.stdout)
    return path


@pytest.mark.parametrize("words, expected", CASES)
def test_bash_completes_commands_options_and_keywords(script: Path, tmp_path: Path,
                                                      words: list[str], expected: str) -> None:
    assert complete(script, words, tmp_path) == expected


def test_bash_completes_paths_for_files_and_the_socket(script: Path, tmp_path: Path) -> None:
    (tmp_path / "routes.txt").write_text("10.0.0.0/8 via 1\n")
    (tmp_path / "api.sock").write_text("")
    assert complete(script, ["reactorctl", "route4", "load", "rou"], tmp_path) == "routes.txt"
    assert complete(script, ["reactorctl", "-s", "api"], tmp_path) == "api.sock"
    assert complete(script, ["reactorctl", "--socket", "a"], tmp_path) == "api.sock"


def test_the_script_follows_the_parser(tmp_path: Path) -> None:
    """Generated, not kept by hand: an option added to the parser is completed."""
    parser = build_parser()
    parser.add_argument("--brand-new-option", action="store_true")
    script = tmp_path / "new.bash"
    script.write_text(bash_script(parser))
    assert "--brand-new-option" in complete(script, ["reactorctl", "--b"], tmp_path)


def read_until(fd: int, wanted: bytes, timeout: float = 10.0) -> bytes:
    """What the terminal shows, until ``wanted`` appears (or fail after ``timeout``)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"{wanted!r} not shown; the terminal showed {seen!r}")
        seen += os.read(fd, 4096)
    return seen


def test_tab_completes_in_an_interactive_bash(script: Path, tmp_path: Path) -> None:
    """Keystrokes into a real interactive bash on a pty: TAB completes the keyword,
    a double TAB lists the candidates."""
    master, slave = pty.openpty()
    shell = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], stdin=slave,
                             stdout=slave, stderr=slave, cwd=tmp_path, start_new_session=True,
                             env={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
                                  "TERM": "dumb", "PS1": "ready$ "})
    os.close(slave)
    try:
        os.write(master, f"source {script}\n".encode())
        read_until(master, b"ready$ ")
        os.write(master, b"reactorctl nexthop add 7 bla\t")
        read_until(master, b"blackhole ")
        os.write(master, b"\x15reactorctl route\t\t")           # Ctrl-U, then a new line
        read_until(master, b"route6")
        os.write(master, b"\x15exit\n")
        assert shell.wait(10) == 0
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()
        os.close(master)
