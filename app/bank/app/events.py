"""The bank app's Socket.IO namespace `/bank`.

The server picks the room from the bank session cookie; a client can never ask
for another customer's room.
"""
from flask import current_app
from flask_socketio import Namespace

from ...common.realtime import join_rooms
from ...common.sessions import load_server_session
from ...common.signins import sign_in_room
from ..notify import customer_room


class BankNamespace(Namespace):
    def on_connect(self, auth=None):
        """A bank-app page connects: join its customer's room, or refuse if not logged in."""
        session = load_server_session(current_app, "bank")
        customer_id = session.get("customer_id")
        if not customer_id:
            return False
        join_rooms(customer_room(customer_id), sign_in_room(session))  # the latter closes it at log-out
        return None
