"""The reactorctl tests' shared fixture: a real reactord on a socket in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools.util import start_daemon
from tools.harness import ServerProcess


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ServerProcess]:
    """A reactord for one test; it must stop cleanly (exit 0) at the end."""
    proc = start_daemon(tmp_path)
    try:
        yield proc
    finally:
        assert proc.terminate() == 0, proc.log()
