"""Time as every server stores it: naive UTC datetimes (SQLite keeps no time zone), ISO 8601 with Z outside."""
from datetime import datetime, timezone


def utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


def isoformat(moment):
    return moment.replace(microsecond=0).isoformat() + "Z" if moment else None
