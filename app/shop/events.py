"""The shop's Socket.IO namespace `/shop` and the `order_status` event.

The room comes from the shop session cookie, never from the client.
"""
from flask import current_app
from flask_socketio import Namespace

from ..common.realtime import emit_event, join_rooms
from ..common.sessions import load_server_session
from ..common.signins import sign_in_room
from .services import order_status_payload

SHOP_NAMESPACE = "/shop"


def customer_room(user_id):
    return f"user:{user_id}"


class ShopNamespace(Namespace):
    def on_connect(self, auth=None):
        """An order page connects: join its signed-in customer's room, or refuse an anonymous client."""
        session = load_server_session(current_app, "shop")
        user_id = session.get("user_id")
        if not user_id:
            return False
        join_rooms(customer_room(user_id), sign_in_room(session))  # the latter closes it at sign-out
        return None


def announce_order_status(order):
    """Server → the order owner's open pages: the order's new status (sent only to its owner's room)."""
    emit_event("order_status", order_status_payload(order), room=customer_room(order.user_id),
               namespace=SHOP_NAMESPACE)
