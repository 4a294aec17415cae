"""Words of the record text: one token <-> one field value.

The concept: the vocabulary shared by every table's grammar (``api.text_grammar``)
and its listings (``api.text_view``): decimal numbers in a range, IPv4/IPv6
addresses and prefixes, MAC addresses, protocol names, ``ADDR:PORT``
endpoints, ``keyword value`` options, and the ``HEAD@name1N/name2M`` suffix of
a key token; and, the other way, how addresses, endpoints, names and ages are
written.  reactorctl and the ``api.text`` library functions use these and no
other parsers.  Nothing here does I/O.

Invariants:
- a parser returns a value in its documented range or raises ``TextError``,
  whose ``str()`` is one line naming the bad token (``bad vrf '65535': not
  in 0..65534``);
- a formatter's output parses back to the same value (addresses in the
  canonical form of ``inet_ntop``).
"""

from __future__ import annotations

import re
from socket import AF_INET, AF_INET6, inet_ntoa, inet_ntop, inet_pton
from typing import Any, Callable, Mapping, Sequence

from api import wire

Words = Sequence[str]

U8, U16, U32 = 0xFF, 0xFFFF, 0xFFFFFFFF
ID16 = U16 - 1          # vrf, bridge, iface: 0xffff means "all" on the wire

NH_TYPES = {wire.NH_GATEWAY: "gw", wire.NH_BLACKHOLE: "blackhole", wire.NH_REJECT: "reject"}
FDB_FLAGS = {wire.FDB_STATIC: "static", wire.FDB_LEARNED: "learned"}
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 58: "icmpv6", 132: "sctp"}
PROTOS = {name: number for number, name in PROTO_NAMES.items()}
PLEN = [f"/{n}" for n in range(256)]
_MAC = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\Z")


class TextError(ValueError):
    """Bad record text; ``str()`` is one line naming the bad token."""


def bad(what: str, token: str, why: str = "") -> TextError:
    return TextError(f"bad {what} {token!r}" + (f": {why}" if why else ""))


def word(words: Words, index: int, what: str) -> str:
    """``words[index]``, or TextError ``missing WHAT``."""
    if index >= len(words):
        raise TextError(f"missing {what}")
    return words[index]


# -- tokens -> values ---------------------------------------------------------------


def parse_uint(token: str, what: str, maximum: int, minimum: int = 0) -> int:
    """A decimal integer in ``minimum..maximum``."""
    if not (token.isascii() and token.isdigit()):
        raise bad(what, token, "not a number")
    value = int(token)
    if not minimum <= value <= maximum:
        raise bad(what, token, f"not in {minimum}..{maximum}")
    return value


def uint(what: str, maximum: int, minimum: int = 0) -> Callable[[str], int]:
    return lambda token: parse_uint(token, what, maximum, minimum)


VRF, IFACE, BRIDGE = uint("vrf", ID16), uint("iface", ID16), uint("bridge", ID16)
VLAN, ORIGIN, STATE = uint("vlan", 4095), uint("origin", U8), uint("state", U8)
NH_ID = uint("nexthop id", U32, 1)


def parse_addr(token: str, family: int, what: str = "") -> bytes:
    """Raw network-order bytes of an IPv4 (4) or IPv6 (16) address."""
    try:
        return inet_pton(AF_INET if family == 4 else AF_INET6, token)
    except (OSError, ValueError):
        raise bad(what or f"IPv{family} address", token) from None


def parse_any_addr(token: str, what: str) -> tuple[int, bytes]:
    """(family, 16 bytes): IPv4 in the first 4 bytes, the rest zero."""
    family = 6 if ":" in token else 4
    return family, parse_addr(token, family, what).ljust(16, b"\0")


def parse_prefix(token: str, family: int) -> tuple[bytes, int]:
    """(prefix bytes, length) of ``ADDR/LEN`` or ``ADDR`` (a host prefix)."""
    what, bits = f"IPv{family} prefix", (32 if family == 4 else 128)
    addr, slash, length = token.partition("/")
    try:
        raw = parse_addr(addr, family, what)
    except TextError:
        raise bad(what, token) from None
    if not slash:
        plen = bits
    elif length.isascii() and length.isdigit() and int(length) <= bits:
        plen = int(length)
    else:
        raise bad(what, token, f"length not in 0..{bits}")
    if int.from_bytes(raw, "big") & ((1 << (bits - plen)) - 1):
        raise bad(what, token, "host bits set")
    return raw, plen


def parse_mac(token: str) -> bytes:
    if not _MAC.match(token):
        raise bad("MAC address", token, "expected xx:xx:xx:xx:xx:xx")
    return bytes.fromhex(token.replace(":", ""))


def parse_proto(token: str) -> int:
    number = PROTOS.get(token.lower())
    return number if number is not None else parse_uint(token, "protocol", U8)


def parse_endpoint(token: str, what: str) -> tuple[int, bytes, int]:
    """(family, 16-byte address, port) of ``A.B.C.D:PORT`` or ``[IPV6]:PORT``."""
    if token.startswith("["):
        addr, sep, port = token[1:].partition("]:")
        family = 6
    else:
        addr, sep, port = token.rpartition(":")
        family = 4
    if not sep:
        raise bad(what, token, "expected ADDR:PORT or [IPV6]:PORT")
    raw = parse_addr(addr, family, what).ljust(16, b"\0")
    return family, raw, parse_uint(port, f"{what} port", U16)


def options(words: Words, spec: Mapping[str, Callable[[str], Any]],
            flags: Sequence[str] = ()) -> dict[str, Any]:
    """``keyword value`` pairs (each at most once) and bare flag words, in any order."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(words):
        token = words[i]
        if token in out:
            raise TextError(f"{token!r} given twice")
        if token in flags:
            out[token], i = True, i + 1
            continue
        parse = spec.get(token)
        if parse is None:
            expected = ", ".join([*spec, *flags]) or "nothing more"
            raise TextError(f"unexpected {token!r} (expected {expected})")
        out[token] = parse(word(words, i + 1, f"value after {token!r}"))
        i += 2
    return out


def leading(words: Words, keywords: Mapping[str, object], what: str) -> int:
    """How many words come before the first keyword (at least one)."""
    n = next((i for i, w in enumerate(words) if w in keywords), len(words))
    if n == 0:
        raise TextError(f"missing {what}")
    return n


def split_suffix(text: str, names: Sequence[str]) -> tuple[str, dict[str, int]]:
    """Split ``HEAD@name1N/name2M`` of a key token into HEAD and its numbers."""
    head, at, tail = text.partition("@")
    found: dict[str, int] = {}
    for part in tail.split("/") if at else ():
        name = next((n for n in names if part.startswith(n) and n not in found), None)
        if name is None:
            raise bad("key suffix", "@" + tail, f"expected @{'/'.join(n + 'N' for n in names)}")
        found[name] = parse_uint(part[len(name):], name, ID16 if name != "vlan" else 4095)
    return head, found


# -- values -> tokens ---------------------------------------------------------------


def with_suffix(text: str, **parts: int) -> str:
    """``text@name1N/name2M`` with the zero parts left out."""
    tail = "/".join(f"{name}{value}" for name, value in parts.items() if value)
    return f"{text}@{tail}" if tail else text


def with_options(head: str, **values: int) -> str:
    """``head name1 N name2 M`` with the zero values left out (the add-line options)."""
    return " ".join([head, *(f"{name} {value}" for name, value in values.items() if value)])


def name_of(names: Mapping[int, str], value: int) -> str:
    return names.get(value, str(value))


def fmt_addr(family: int, raw: bytes) -> str:
    return inet_ntoa(raw[:4]) if family == 4 else inet_ntop(AF_INET6, raw)


def fmt_endpoint(family: int, raw: bytes, port: int) -> str:
    if family == 4:
        return f"{inet_ntoa(raw[:4])}:{port}"
    return f"[{inet_ntop(AF_INET6, raw)}]:{port}"


def fmt_age(ns: int, now_ns: int) -> str:
    return f"{(now_ns - ns) / 1e9:.1f}s" if 0 < ns <= now_ns else "-"
