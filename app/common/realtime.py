"""Socket.IO emits from any server, through one traced function.

The SocketIO object belongs to the app (`app.extensions["socketio"]`), so the
emit works from a request, a socket handler or a background worker alike.
"""
from flask import current_app
from flask_socketio import join_room

from .tracing import record_message


def emit_event(event, data, *, room, namespace):
    """Send `event` with `data` to every socket in `room` on `namespace`."""
    current_app.extensions["socketio"].emit(event, data, to=room, namespace=namespace)
    record_message("socket", event=event, data=data, room=room, namespace=namespace)


def join_rooms(*rooms):
    """Join the connecting socket to each room that is not None (in a connect handler)."""
    for room in rooms:
        if room:
            join_room(room)


CLOSE_SOCKETS = "close-sockets"  # the process bus's topic: every process closes a room's sockets it holds


def close_sockets_everywhere(room):
    """Disconnect every socket in `room`, in every process of this PayLab (through the process bus).

    Used when a sign-in ends: its sockets were let in at connect, and would otherwise go on hearing
    what is sent to the signed-out customer. A socket is held by the process it connected to, and
    the sign-out (or the worker's idle sweep) may run in another one.
    """
    current_app.extensions["process_bus"].publish(CLOSE_SOCKETS, room)


def close_sockets_in_room(room):
    """Disconnect every socket of this process that is in `room`, in every namespace."""
    socketio = current_app.extensions.get("socketio")
    if socketio is None or socketio.server is None:
        return
    manager = socketio.server.manager
    for namespace in list(manager.get_namespaces()):
        for sid, _ in list(manager.get_participants(namespace, room)):
            socketio.server.disconnect(sid, namespace=namespace)
