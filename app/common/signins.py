"""Signed-in sessions that the server can end: the sign-in registry behind every session cookie.

A session cookie is signed, not stored, so on its own a copy taken before
sign-out would keep working until it expires. Every sign-in therefore starts a
fresh session (nothing planted before it survives: no session fixation) that
carries a random sign-in id, recorded here; each request checks that the record
is still open. Signing out closes it, and a server may also close sessions that
stay idle too long (the bank, as banking apps do).

This is plumbing shared by every server, like a session store: it knows a
server's name and an opaque principal ("customer:7"), nothing of their data.
"""
import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update

from ..extensions import db
from .clock import utcnow
from .realtime import close_sockets_everywhere
from .security import token_hash

SIGN_IN_KEY = "sign_in"  # the session key holding the sign-in id
PRINCIPAL_KEYS = ("customer_id", "merchant_id", "user_id")  # who a server's session says is signed in
LAST_SEEN_RESOLUTION = timedelta(seconds=30)  # idle time is measured to within this, to spare writes


class SignIn(db.Model):
    """One signed-in session of one server. Only a hash of its id is kept: a database read
    does not give anyone a session (and the cookie is signed with SECRET_KEY as well)."""
    __tablename__ = "sign_ins"
    id = db.Column(db.String(64), primary_key=True)
    server = db.Column(db.String(20), nullable=False)
    principal = db.Column(db.String(60), nullable=False, index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_seen_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    ended_at = db.Column(db.DateTime)


def _hash(sign_in_id):
    return token_hash(sign_in_id)


def sign_in_room(session_data):
    """The Socket.IO room of this session's sign-in, so its sockets can be closed when it ends; or None."""
    sign_in_id = session_data.get(SIGN_IN_KEY)
    return f"sign-in:{_hash(sign_in_id)}" if isinstance(sign_in_id, str) else None


def _ended(hashed_ids):
    """After the commit: the ended sessions' open sockets go too (they were let in while it was open)."""
    for hashed in hashed_ids:
        close_sockets_everywhere(f"sign-in:{hashed}")


def begin_sign_in(session, server, principal, keep=()):
    """Sign `principal` in to `server`: a fresh session (keeping only the keys in `keep`) and an open record.

    Commits. Returns the new session's sign-in id.
    """
    kept = {key: session[key] for key in keep if key in session}
    session.clear()
    session.update(kept)
    sign_in_id = secrets.token_urlsafe(32)
    db.session.add(SignIn(id=_hash(sign_in_id), server=server, principal=principal))
    db.session.commit()
    session[SIGN_IN_KEY] = sign_in_id
    session.permanent = True
    return sign_in_id


def end_sign_in(session):
    """Sign out: close the record (so copies of the cookie die with it) and clear the session. Commits."""
    sign_in_id = session.get(SIGN_IN_KEY)
    if isinstance(sign_in_id, str):
        db.session.execute(update(SignIn).where(SignIn.id == _hash(sign_in_id), SignIn.ended_at.is_(None))
                           .values(ended_at=utcnow()))
        db.session.commit()
        _ended([_hash(sign_in_id)])
    session.clear()


def is_signed_in(session_data, server, idle_seconds=0, max_seconds=0, now=None):
    """Is this session's sign-in still open? Closes it when idle or too old. Commits only when it writes.

    A session without a sign-in id is anonymous, which is fine for browsing: the
    caller decides whether a page needs someone signed in.
    """
    sign_in_id = session_data.get(SIGN_IN_KEY)
    if not isinstance(sign_in_id, str):
        return False
    record = db.session.get(SignIn, _hash(sign_in_id))
    if record is None or record.ended_at is not None or record.server != server:
        return False
    now = now or utcnow()
    too_idle = idle_seconds and now - record.last_seen_at > timedelta(seconds=idle_seconds)
    too_old = max_seconds and now - record.created_at > timedelta(seconds=max_seconds)
    if too_idle or too_old:
        record.ended_at = now
        db.session.commit()
        _ended([record.id])
        return False
    if now - record.last_seen_at > LAST_SEEN_RESOLUTION:
        record.last_seen_at = now
        db.session.commit()
    return True


def end_idle_sign_ins(server, idle_seconds=0, max_seconds=0, now=None):
    """End every open sign-in of `server` that has been idle or open too long; returns how many. Commits.

    A request finds out by itself (`is_signed_in`), but a socket makes no requests: without
    this sweep, a socket opened before the timeout would go on hearing the customer's payments.
    """
    now = now or utcnow()
    stale = []
    if idle_seconds:
        stale.append(SignIn.last_seen_at < now - timedelta(seconds=idle_seconds))
    if max_seconds:
        stale.append(SignIn.created_at < now - timedelta(seconds=max_seconds))
    if not stale:
        return 0
    ids = db.session.scalars(select(SignIn.id).where(SignIn.server == server, SignIn.ended_at.is_(None),
                                                     or_(*stale))).all()
    if ids:
        db.session.execute(update(SignIn).where(SignIn.id.in_(ids), SignIn.ended_at.is_(None)).values(ended_at=now))
        db.session.commit()
        _ended(ids)
    return len(ids)
