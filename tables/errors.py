"""Table errors: a request refused by a table, with its wire errno, reason and record.

The concept: a table validates a whole bulk request before applying any of
it; the first record that fails raises ``TableError`` with the wire-v1 status
(EINVAL, ENOENT, EEXIST, EBUSY), a ``reason`` naming the object in
reactorctl's text (``tables.reasons``: ``nexthop 99 does not exist``) and,
once staging (``tables.staging``) has counted it, the ``index`` of the record
in its request.  The handlers (``tables.handlers``) turn it into the
registry's ``ApiError``, whose reply carries index and reason (wire-v1 section
2); nothing else in ``tables`` knows about the registry.
"""

from __future__ import annotations


class TableError(Exception):
    """A request failed validation: ``status`` is the wire errno, ``reason`` names the
    object, ``index`` is the 0-based index of the failing record in the request
    (None until known)."""

    def __init__(self, status: int, reason: str = "", index: int | None = None) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.index = index

    @property
    def detail(self) -> str:
        """The reason (the name of before it was sent to clients)."""
        return self.reason
