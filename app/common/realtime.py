"""Socket.IO emits from any server, through one traced function.

The SocketIO object belongs to the app (`app.extensions["socketio"]`), so the
emit works from a request, a socket handler or a background worker alike.
"""
from flask import current_app

from .tracing import record_message


def emit_event(event, data, *, room, namespace):
    """Send `event` with `data` to every socket in `room` on `namespace`."""
    current_app.extensions["socketio"].emit(event, data, to=room, namespace=namespace)
    record_message("socket", event=event, data=data, room=room, namespace=namespace)
