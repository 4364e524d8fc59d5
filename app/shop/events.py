"""The shop's Socket.IO namespace `/shop` and the `order_status` event.

The room comes from the shop session cookie, never from the client.
"""
from flask_socketio import Namespace

from ..common.realtime import emit_event
from ..common.sessions import admit_signed_in_socket
from .services import order_status_payload

SHOP_NAMESPACE = "/shop"


def customer_room(user_id):
    return f"user:{user_id}"


class ShopNamespace(Namespace):
    def on_connect(self, auth=None):
        """An order page connects: join its signed-in customer's room, or refuse an anonymous client."""
        return admit_signed_in_socket("shop", "user_id", customer_room)


def announce_order_status(order):
    """Server → the order owner's open pages: the order's new status (sent only to its owner's room)."""
    announce_order_payload(order.user_id, order_status_payload(order))


def announce_order_payload(user_id, payload):
    """The same, with the `order_status` payload already built (before a commit, while it was loaded)."""
    emit_event("order_status", payload, room=customer_room(user_id), namespace=SHOP_NAMESPACE)
