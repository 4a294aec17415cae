"""A user's script type-checks against the installed package, regular and editable.

Each run copies the project's sources to a temporary folder, installs them into
a fresh venv (``pip install --no-deps`` with pip's isolated build: the same
index access as ``tools/test``'s own install), and runs this suite's mypy with
``--python-executable`` set to that venv on the examples of docs/client.md,
each written out as a script of its own, from a folder with an empty mypy
config and no ``MYPYPATH``/``PYTHONPATH``.  A script with a type error
must fail (mypy sees the package's types, not ``Any``), and the guide's
program must run with the venv's interpreter, importing the package from where
it was installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.test_client_guide import examples
from tools.harness import ROOT
from tests.tools.util import start_daemon

SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "reactor", "api", "tables", "tools")
BAD_SCRIPT = '''from api.records import Route4

route = Route4(prefix="10.0.0.0/8", nh_id=1)
width: str = route.prefix.prefixlen
'''


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MYPYPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(argv: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=clean_env(), capture_output=True, text=True,
                          timeout=timeout)


def install(tmp: Path, editable: bool) -> Path:
    """A fresh venv with the project installed; its python."""
    project = tmp / "project"
    project.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, project / name)
    made = run([sys.executable, "-m", "venv", str(tmp / "venv")], tmp)
    assert made.returncode == 0, made.stderr
    python = tmp / "venv" / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--no-deps", "-q"]
    done = run(pip + (["-e", str(project)] if editable else [str(project)]), tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    return python


def mypy(python: Path, scripts: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "mypy", "--strict", "--python-executable", str(python),
                "--cache-dir", str(scripts / ".mypy_cache"), *files], scripts)


@pytest.mark.slow
@pytest.mark.parametrize("editable", [False, True], ids=["regular", "editable"])
def test_guide_examples_type_check_against_the_installed_package(editable: bool,
                                                                 tmp_path: Path) -> None:
    python = install(tmp_path, editable)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "mypy.ini").write_text("[mypy]\n")       # not the project's configuration
    names = []
    for name, code in examples().items():
        (scripts / f"example_{name}.py").write_text(code)
        names.append(f"example_{name}.py")
    checked = mypy(python, scripts, *names)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"no issues found in {len(names)} source files" in checked.stdout

    (scripts / "bad.py").write_text(BAD_SCRIPT)
    refused = mypy(python, scripts, "bad.py")
    assert refused.returncode == 1, refused.stdout
    assert 'Argument "prefix" to "Route4" has incompatible type "str"' in refused.stdout
    assert 'Incompatible types in assignment (expression has type "int"' in refused.stdout

    where = run([str(python), "-c", "import api; print(api.__file__)"], scripts)
    expected = tmp_path / ("project" if editable else "venv")
    assert Path(where.stdout.strip()).is_relative_to(expected), where
    daemon = start_daemon(tmp_path)
    try:
        answer = run([str(python), "example_program.py", daemon.path, "10.0.0.1"], scripts)
    finally:
        assert daemon.terminate() == 0
    assert (answer.returncode, answer.stdout) == (1, "10.0.0.1: no route\n"), answer.stderr
