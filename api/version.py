"""The project's version: the one place it is written.

setup.cfg reads it (``version = attr: api.version.__version__``), HELLO and
STATS report it, and both tools print it for ``--version``.
"""

__version__ = "0.1.0"
