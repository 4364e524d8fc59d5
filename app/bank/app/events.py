"""The bank app's Socket.IO namespace `/bank`.

The server picks the room from the bank session cookie; a client can never ask
for another customer's room.
"""
from flask_socketio import Namespace

from ...common.sessions import admit_signed_in_socket
from ..notify import customer_room


class BankNamespace(Namespace):
    def on_connect(self, auth=None):
        """A bank-app page connects: join its customer's room, or refuse if not logged in."""
        return admit_signed_in_socket("bank", "customer_id", customer_room)
