"""Tables of the control plane: records in key order, with key cursors.

Every ordered index here is a sortedcontainers structure.  Each table keeps
its records in a ``RecordPages`` (``record_pages``): a ``SortedDict`` whose
values are compact pages (a key column and a record blob) keyed by each
page's first key, so sortedcontainers finds the page and the page holds the
records.  The nexthop table's scope index (vrf_id, nh_id) is a
``SortedList``.  A LIST cursor holds its last key and resumes through a
``SortedDict`` bisect (``SortedList.irange`` on a scope index).

Why pages and not a plain ``SortedDict`` of key -> record (the simplest
shape), measured by ``python -m tools.bench.tables`` (route4, 1M routes, its
"alternative index" line): the plain SortedDict walks at ~295 ns per record
against ~3.5 ns for pages (x85: a dict lookup and a bytes object per record,
where a page gives one slice of many records), and holds ~127 B per route
against ~21 B (an int key, a bytes record, dict and list slots per route,
where a page holds 8 B of key and 12 B of record).  The daemon's budgets are
60 ns of CPU per listed record in all (framing included) and 110 B per route
in all (the prefix index included, ~70 B), so only pages meet them.  What
pages cost: a bisect inside the page (its key column) after the SortedDict's,
and the page upkeep in ``record_pages`` (a page is cut above 2·LOAD items and
joined to a neighbour below LOAD/4), which a plain SortedDict would leave to
sortedcontainers.

Modules, one concept each:

- ``errors``: ``TableError``, a refused request with its wire errno;
- ``staging``: the §4 order in which a bulk ADD / DEL fails, validated whole
  before anything is applied;
- ``blob``: records end to end; ``gather`` / ``split``, whole-payload byte
  shuffles done with C-level strided copies;
- ``record_pages``: one ordered index of records, pages in a ``SortedDict``;
- ``keyed``: ``KeyOrder`` (records in key order, scope index, cursors),
  ``KeyCursor``, ``KeyedTable`` (plus exact membership);
- ``lpm``: route GET and longest-prefix match; the prefix masks;
- ``nexthop``, ``route``, ``fdb``, ``conntrack``: the tables;
- ``handlers``: the requests bound to the registry (the only module that
  imports ``api.registry``).
"""
