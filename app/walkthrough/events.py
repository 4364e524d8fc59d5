"""The walkthrough's Socket.IO namespace: the server → the journey owner's open walkthrough pages."""
from flask import current_app
from flask_socketio import Namespace, join_room

from ..common.sessions import load_server_session


def owner_key(user_id):
    return f"shop-user:{user_id}"


class WalkthroughNamespace(Namespace):
    def on_connect(self, auth=None):
        """A walkthrough page connects: join its learner's room (from the shop session), or refuse."""
        user_id = load_server_session(current_app, "shop").get("user_id")
        if not user_id:
            return False
        join_room(f"owner:{owner_key(user_id)}")
        return None
