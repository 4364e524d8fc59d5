"""The walkthrough's Socket.IO namespace: the server → the journey owner's open walkthrough pages."""
from flask import current_app
from flask_socketio import Namespace

from ..common.realtime import join_rooms
from ..common.sessions import load_server_session
from ..common.signins import sign_in_room
from ..common.tracing import journey_owner


class WalkthroughNamespace(Namespace):
    def on_connect(self, auth=None):
        """A walkthrough page connects: join its learner's room (from the shop session), or refuse."""
        session = load_server_session(current_app, "shop")
        user_id = session.get("user_id")
        if not user_id:
            return False
        join_rooms(f"owner:{journey_owner(user_id)}", sign_in_room(session))  # the latter closes it at sign-out
        return None
