"""The bank's outboxes (webhook events, push messages): rows are claimed under a lease, then sent.

One mechanism for every outbox table with `claimed_by` and `claimed_until` columns:
- a worker picks candidates (with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two
  workers do not even look at the same rows) and leases each with a conditional
  UPDATE (on SQLite, the write lock makes that the only arbiter), so of two
  workers only one gets a row;
- the lease is committed before any network call, and no transaction stays open
  across it;
- only an expired lease is ever taken over: a worker that died mid-send loses its
  rows after its lease, and a restart never resets another process's work.
"""
import os
import secrets
import socket

from sqlalchemy import or_, update

from ...extensions import db


def new_worker_id():
    """Who holds a lease: unique per worker, so a restarted process never mistakes an old lease for its own."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def lease_free(model, now):
    """No lease on the row, or one that ran out (its worker died mid-send)."""
    return or_(model.claimed_until.is_(None), model.claimed_until <= now)


def lease_live(model, now):
    """A worker holds the row and may be sending it right now."""
    return model.claimed_until > now


def claim_rows(model, row_ids, claimable, worker_id, until, **values):
    """Lease each of `row_ids` that is still `claimable`; returns the ids this worker got. The caller commits.

    One conditional UPDATE per row: whatever another worker claimed in the meantime
    no longer matches `claimable`, and is left alone.
    """
    claimed = []
    for row_id in row_ids:
        result = db.session.execute(update(model).where(model.id == row_id, claimable)
                                    .values(claimed_by=worker_id, claimed_until=until, **values)
                                    .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            claimed.append(row_id)
    return claimed
