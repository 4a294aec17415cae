"""The soak (``tools.hardening.soak``) in short: every kind of client at once against one daemon.

Runs the real script for 3 seconds as CI would; the script itself checks
wire-v1 section 6 on every completed stream and exits 1 on any violation.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tools.harness import ROOT


def figure(output: str, label: str) -> int:
    match = re.search(rf"^\s*{label}\s+(\d+)", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return int(match.group(1))


def test_short_soak_holds_every_guarantee() -> None:
    result = subprocess.run([sys.executable, "-m", "tools.hardening.soak", "--duration", "3",
                             "--preload", "20000", "--seed", "7"], cwd=ROOT,
                            capture_output=True, text=True, timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert figure(output, "guarantee violations:") == 0
    assert "requests/s held" in output and "peak" in output
    for role in ("streamers:", "mutators:", "cancellers:"):
        assert figure(output, role) > 0, f"the {role[:-1]} did nothing:\n{output}"
    assert figure(output, "cancels:") > 0
    assert figure(output, "faults injected:") > 0
    assert figure(output, "bad inputs tried:") > 0
