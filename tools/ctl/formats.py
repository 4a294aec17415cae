"""What reactorctl prints, read back: add lines, listings and JSON lines, as add-line words.

The concept: a record file holds records in any of the three forms
reactorctl writes for a table:

- add lines, ``10.0.0.0/8 via 1 vrf 2``: what ``add`` takes, what
  ``list --format load`` and ``save`` print;
- an aligned listing, what ``list`` prints: a header line of the view's
  exact column names, then one row per record;
- JSON lines, what ``--json list`` prints: one object per record.

``Reader`` turns each line into the words of the equivalent add line, so the
library's grammar (``api.text_grammar``) checks every form alike and names the
bad token.  Nothing here does I/O.

Invariants:
- for every record the grammar can express, each printed form of it reads
  back as that record, except the fields the daemon sets (fdb last_seen_ns and
  the AGE column, conntrack id and last_update_ns), which are not read: an
  ADD gets new ones;
- blank lines and ``#`` comments are skipped (a comment runs to the end of the
  line); a header line switches to listing rows until the next header, so
  concatenated listings read; a line starting with ``{`` is a JSON object
  whatever came before;
- a bad line raises ``TextError``, one line naming what is wrong.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

from api.text_grammar import TextTable
from api.text_words import TextError, Words

Cells = Sequence[str]
_JSON_SCALARS = (int, str)


def _route_words(dest: str, nh_id: str, vrf: str, origin: str) -> list[str]:
    """An add line with only the options that are not 0 (the grammar's short paths)."""
    words = [dest, "via", nh_id]
    if vrf != "0":
        words += ["vrf", vrf]
    if origin != "0":
        words += ["origin", origin]
    return words


def _route_row(c: Cells) -> list[str]:
    vrf, dest, nh_id, origin = c
    return _route_words(dest, nh_id, vrf, origin)


def _nexthop_row(c: Cells) -> list[str]:
    nh_id, vrf, kind, gateway, iface, mac = c
    return _nexthop_words(nh_id, kind, None if gateway == "-" else gateway, iface, vrf,
                          None if mac == "-" else mac)


def _nexthop_words(nh_id: str, kind: str, gateway: str | None, iface: str, vrf: str,
                   mac: str | None) -> list[str]:
    words = [nh_id, kind]
    if kind == "gw":
        words.append(gateway if gateway is not None else "")
    elif gateway is not None:
        raise TextError(f"a {kind} nexthop has no gateway (got {gateway!r})")
    words += ["iface", iface, "vrf", vrf]
    if kind == "gw" and mac is not None and mac.strip("0:"):
        words += ["mac", mac]
    return words


def _fdb_row(c: Cells) -> list[str]:
    bridge, vlan, mac, iface, flags, _age = c
    return [mac, "bridge", bridge, "vlan", vlan, "iface", iface, flags]


def _conntrack_row(c: Cells) -> list[str]:
    _id, iface, proto, src, dst, state, _age = c
    return [proto, src, "to", dst, "iface", iface, "state", state]


def _field(obj: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = obj.get(name)
    if value is None:
        if default is None:
            raise TextError(f"missing field {name!r}")
        return default
    if isinstance(value, bool) or not isinstance(value, _JSON_SCALARS):
        raise TextError(f"bad field {name!r}: {json.dumps(value)}")
    return str(value)


def _route_json(o: Mapping[str, Any]) -> list[str]:
    return _route_words(_field(o, "prefix"), _field(o, "nh_id"), _field(o, "vrf", "0"),
                        _field(o, "origin", "0"))


def _nexthop_json(o: Mapping[str, Any]) -> list[str]:
    gateway = o.get("gateway")
    return _nexthop_words(_field(o, "id"), _field(o, "type"),
                          None if gateway is None else _field(o, "gateway"),
                          _field(o, "iface", "0"), _field(o, "vrf", "0"),
                          o.get("mac") and _field(o, "mac"))


def _fdb_json(o: Mapping[str, Any]) -> list[str]:
    return [_field(o, "mac"), "bridge", _field(o, "bridge", "0"), "vlan",
            _field(o, "vlan", "0"), "iface", _field(o, "iface"), _field(o, "flags", "static")]


def _endpoint(o: Mapping[str, Any], addr: str, port: str) -> str:
    host = _field(o, addr)
    return f"[{host}]:{_field(o, port)}" if ":" in host else f"{host}:{_field(o, port)}"


def _conntrack_json(o: Mapping[str, Any]) -> list[str]:
    return [_field(o, "proto"), _endpoint(o, "src", "sport"), "to",
            _endpoint(o, "dst", "dport"), "iface", _field(o, "iface", "0"), "state",
            _field(o, "state", "0")]


Convert = Callable[[Cells], list[str]]
FromJson = Callable[[Mapping[str, Any]], list[str]]
_FORMS: dict[str, tuple[Convert, FromJson]] = {
    "nexthop": (_nexthop_row, _nexthop_json),
    "route4": (_route_row, _route_json), "route6": (_route_row, _route_json),
    "fdb": (_fdb_row, _fdb_json),
    "conntrack": (_conntrack_row, _conntrack_json),
}


class Reader:
    """One file's lines -> add-line words for ``table``; remembers whether a
    listing header was seen (rows follow it)."""

    def __init__(self, table: TextTable) -> None:
        self.table = table
        self._header = list(table.view.columns)
        self._row, self._json = _FORMS[table.name]
        self._rows = False

    def words(self, line: str) -> Words | None:
        """The add-line words of ``line``; None for a blank, comment or header line."""
        if "#" in line:
            line = line[:line.index("#")]
        words = line.split()
        if not words:
            return None
        if words[0][0] == "{":
            return self._json(_object(line.strip()))
        if words[0] == self._header[0] and words == self._header:
            self._rows = True
            return None
        if not self._rows:
            return words
        if len(words) != len(self._header):
            raise TextError(f"a {self.table.name} listing row has {len(self._header)} "
                            f"columns ({' '.join(self._header)}), this one {len(words)}")
        return self._row(words)


def _object(text: str) -> Mapping[str, Any]:
    """The JSON object of a line starting with ``{`` (JSON gives a dict or fails)."""
    try:
        obj: Mapping[str, Any] = json.loads(text)
    except ValueError as exc:
        raise TextError(f"bad JSON: {exc}") from None
    return obj
