"""Table errors: a request refused by a table, with its wire errno.

The concept: a table validates a whole bulk request before applying any of
it; the first record that fails raises ``TableError`` with the wire-v1 status
(EINVAL, ENOENT, EEXIST, EBUSY) and a detail naming the object.  The handlers
(``tables.handlers``) turn it into the registry's ``ApiError``; nothing else
in ``tables`` knows about the registry.
"""

from __future__ import annotations


class TableError(Exception):
    """A request failed validation: ``status`` is the wire errno."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
