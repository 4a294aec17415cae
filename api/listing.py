"""A typed LIST: the records of one stream as ``api.records`` dataclasses.

The concept: ``Listing`` wraps a byte-level ``api.client.Stream`` of wire
tuples and converts each record as it is read.  It is an iterator and a
context manager.  Leaving it early cancels the stream: ``close()`` or leaving
``with`` sends STREAM_CANCEL and drains until the terminator and the cancel's
reply are read; a ``for`` loop left by ``break`` (no ``with``) drops the last
reference, which sends STREAM_CANCEL without waiting, and the client drops the
stream's remaining responses as they come.

Invariants:
- the iterator returned by ``__iter__`` holds the stream, the ``Listing`` does
  not need to stay alive while a loop runs;
- after the end, ``incomplete`` tells a listing cut by ``limit`` (EXFULL) from
  a complete one, and ``last`` is the last record received, to resume with
  ``after=listing.last``.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

from api.client_stream import Stream

T = TypeVar("T")


class Listing(Generic[T]):
    """The records of one LIST, converted one by one; see the module docstring."""

    def __init__(self, stream: Stream[tuple[Any, ...]],
                 convert: Callable[[tuple[Any, ...]], T],
                 unpack: Callable[[bytes], tuple[Any, ...]]) -> None:
        self._stream = stream
        self._convert = convert
        self._unpack = unpack
        self._items: Iterator[T] = map(convert, stream)

    def __iter__(self) -> Iterator[T]:
        return self._items

    def __next__(self) -> T:
        return next(self._items)

    @property
    def done(self) -> bool:
        """The stream has ended (or was given up)."""
        return self._stream.done

    @property
    def incomplete(self) -> bool:
        """The listing stopped at its ``limit`` while more records matched (EXFULL)."""
        return self._stream.incomplete

    @property
    def last(self) -> T | None:
        """The last record received; ``after=`` it continues the listing."""
        raw = self._stream.last_record
        return None if raw is None else self._convert(self._unpack(raw))

    def close(self) -> None:
        """Cancel the stream if it has not ended, and drain it."""
        self._stream.close()

    def __enter__(self) -> Listing[T]:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._stream.__exit__(exc_type, exc, tb)
