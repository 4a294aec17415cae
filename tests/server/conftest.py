from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.testserver import start_test_server
from tools.harness import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = start_test_server(tmp_path)
    try:
        yield proc
    finally:
        proc.kill()
