"""The walkthrough's Socket.IO namespace: the server → the journey owner's open walkthrough pages."""
import logging

from flask import current_app
from flask_socketio import Namespace
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..common.sessions import admit_signed_in_socket, load_server_session
from ..common.tracing import journey_owner
from ..extensions import db
from .models import WalkthroughOpening

log = logging.getLogger(__name__)


class WalkthroughNamespace(Namespace):
    def on_connect(self, auth=None):
        """A walkthrough page connects: join its learner's room (from the shop session), or refuse.
        The first time, the learner is counted as having opened the walkthrough (the instructor's view)."""
        refused = admit_signed_in_socket("shop", "user_id", lambda user_id: f"owner:{journey_owner(user_id)}")
        if refused is None:
            note_opening(journey_owner(load_server_session(current_app, "shop").get("user_id")))
        return refused


def note_opening(owner):
    """Count `owner` as having opened the walkthrough, once (a second tab, another process: no second row)."""
    try:
        if db.session.get(WalkthroughOpening, owner) is not None:
            return
        db.session.add(WalkthroughOpening(owner=owner))
        db.session.commit()
    except IntegrityError:  # another tab of theirs got there first
        db.session.rollback()
    except SQLAlchemyError:  # a count is not worth refusing the learner's walkthrough for
        db.session.rollback()
        log.exception("could not note that %s opened the walkthrough", owner)
