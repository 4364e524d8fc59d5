"""The shop's Socket.IO namespace `/shop` and the `order_status` event.

The room comes from the shop session cookie, never from the client.
"""
from flask import current_app
from flask_socketio import Namespace, join_room

from ..common.realtime import emit_event
from ..common.sessions import load_server_session
from .services import order_status_payload

SHOP_NAMESPACE = "/shop"


def shopper_room(shopper_id):
    return f"shopper:{shopper_id}"


class ShopNamespace(Namespace):
    def on_connect(self, auth=None):
        """An order page connects: join its shopper's room, or refuse a cookieless client."""
        shopper_id = load_server_session(current_app, "shop").get("shopper_id")
        if not shopper_id:
            return False
        join_room(shopper_room(shopper_id))
        return None


def announce_order_status(order):
    """Server → the order owner's open pages: the order's new status (sent only to its owner's room)."""
    emit_event("order_status", order_status_payload(order), room=shopper_room(order.shopper_id),
               namespace=SHOP_NAMESPACE)
