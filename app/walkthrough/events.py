"""The walkthrough's Socket.IO namespace: the server → the journey owner's open walkthrough pages."""
from flask_socketio import Namespace

from ..common.sessions import admit_signed_in_socket
from ..common.tracing import journey_owner


class WalkthroughNamespace(Namespace):
    def on_connect(self, auth=None):
        """A walkthrough page connects: join its learner's room (from the shop session), or refuse."""
        return admit_signed_in_socket("shop", "user_id", lambda user_id: f"owner:{journey_owner(user_id)}")
