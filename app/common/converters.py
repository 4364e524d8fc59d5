"""URL converters that keep what a client types within what the databases can hold."""
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER; SQLite's is 2**63 - 1, so the smaller one rules


class DatabaseIdConverter(IntegerConverter):
    """`<int:…>` in every route: an id past any column's range is simply not found (404), never a
    database overflow (a 500 on SQLite, "integer out of range" on PostgreSQL)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
