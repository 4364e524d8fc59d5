"""URL converters that keep what a client types within what the databases can hold."""
from werkzeug.routing import BaseConverter, IntegerConverter

MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER; SQLite's is 2**63 - 1, so the smaller one rules


class DatabaseIdConverter(IntegerConverter):
    """`<int:…>` in every route: an id past any column's range is simply not found (404), never a
    database overflow (a 500 on SQLite, "integer out of range" on PostgreSQL)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class PublicIdConverter(BaseConverter):
    """`<public_id:…>`: an id or a slug as PayLab makes them: URL-safe letters, digits, `_` and `-`, as
    the bank's `pr_…` ids (models.new_id), the walkthrough's journey ids and the shop's product slugs.

    Anything else in that place of a URL names nothing, so it is a 404 before any query: above all a
    NUL, which PostgreSQL refuses in text ("text fields cannot contain NUL": a 500 for a path like
    /approvals/pr_%00), and ids longer than any of those columns holds (60 characters at most).
    """
    regex = r"[A-Za-z0-9_-]{1,60}"
