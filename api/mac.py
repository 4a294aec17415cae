"""MAC addresses, as ``ipaddress`` has no type for them.

The concept: ``MacAddress``, an immutable, hashable, ordered 48-bit value built
from ``"02:00:00:00:00:01"``, 6 bytes or an int, written as lower-case
colon-separated hex.  Ordered as the fdb key orders it (a 48-bit integer).

Invariant: ``MacAddress(str(m)) == MacAddress(m.packed) == MacAddress(int(m)) == m``;
anything else raises ``ValueError``.
"""

from __future__ import annotations


class MacAddress:
    """A 48-bit MAC address: from ``"02:00:00:00:00:01"``, 6 bytes or an int."""

    __slots__ = ("_packed",)
    _packed: bytes

    def __init__(self, value: str | bytes | int | MacAddress) -> None:
        if isinstance(value, MacAddress):
            packed = value.packed
        elif isinstance(value, str):
            parts = value.split(":")
            if len(parts) != 6 or not all(len(p) == 2 for p in parts):
                raise ValueError(f"bad MAC address {value!r}: expected xx:xx:xx:xx:xx:xx")
            packed = bytes.fromhex("".join(parts))
        elif isinstance(value, (bytes, bytearray)):
            if len(value) != 6:
                raise ValueError(f"a MAC address is 6 bytes, not {len(value)}")
            packed = bytes(value)
        elif isinstance(value, int) and 0 <= value < 1 << 48:
            packed = value.to_bytes(6, "big")
        else:
            raise ValueError(f"not a MAC address: {value!r}")
        object.__setattr__(self, "_packed", packed)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("MacAddress is immutable")

    @property
    def packed(self) -> bytes:
        return self._packed

    def __int__(self) -> int:
        return int.from_bytes(self._packed, "big")

    def __str__(self) -> str:
        return self._packed.hex(":")

    def __repr__(self) -> str:
        return f"MacAddress('{self}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MacAddress) and other._packed == self._packed

    def __lt__(self, other: MacAddress) -> bool:
        return self._packed < other._packed

    def __hash__(self) -> int:
        return hash(self._packed)
