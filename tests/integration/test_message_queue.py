"""SOCKETIO_MESSAGE_QUEUE: an event caused in one process reaches a socket on another, through Redis,
and a queue that is named but missing stops the start with a reason, instead of dropping every event.

Seen before: without the redis package, or with Redis down, Socket.IO started fine and silently
dropped every emit between processes. The cross-process test uses this machine's Redis (CI's too;
REDIS_URL names another) on a database index and a channel of its own, and cleans up after.
"""
import secrets
import time

import pytest
import socketio

from app.extensions import MessageQueueUnavailable
from app.shop.events import SHOP_NAMESPACE, customer_room

from ..support import LiveServer, Shopper, in_app_db, make_app, new_identity



@pytest.mark.parametrize("url, says", [
    ("redis://127.0.0.1:1/0", "Redis does not answer"),
    ("redis://:hunter2@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
    ("amqp://127.0.0.1:5672/", "message queue is Redis"),
])
def test_a_named_queue_that_cannot_be_used_stops_the_start_and_says_why(tmp_path, url, says):
    with pytest.raises(MessageQueueUnavailable) as caught:
        make_app(tmp_path / "instance", SOCKETIO_MESSAGE_QUEUE=url)
    assert says in str(caught.value) and "hunter2" not in str(caught.value)


def test_an_order_status_caused_on_one_process_reaches_a_socket_on_another(tmp_path, redis_queue):
    channel = f"paylab-test-{secrets.token_hex(4)}"  # Redis's channels are server-wide: one of its own
    settings = {"SOCKETIO_MESSAGE_QUEUE": redis_queue, "SOCKETIO_CHANNEL": channel, "BACKGROUND_WORKERS": False}
    caused_here = LiveServer(tmp_path / "one", **settings).start()
    watched_here = LiveServer(tmp_path / "two", **settings).start()
    client = socketio.Client(reconnection=False)
    received = []
    try:
        email, password = new_identity(watched_here.app)
        laptop = Shopper(watched_here.url)
        laptop.sign_in(email, password)
        client.on("order_status", received.append, namespace=SHOP_NAMESPACE)
        client.connect(watched_here.url, namespaces=[SHOP_NAMESPACE], wait_timeout=5, headers={
            "Cookie": "; ".join(f"{c.name}={c.value}" for c in laptop.http.cookies)})
        user_id = _user_id(watched_here.app, email)
        for attempt in range(50):  # the receiving process subscribes to the channel in a thread of its own
            with caused_here.app.app_context():
                caused_here.app.extensions["socketio"].emit(
                    "order_status", {"order_id": attempt, "status": "paid"}, to=customer_room(user_id),
                    namespace=SHOP_NAMESPACE)
            time.sleep(0.1)
            if received:
                break
        assert received and received[0]["status"] == "paid"
    finally:
        client.disconnect()
        caused_here.stop()
        watched_here.stop()


def _user_id(app, email):
    from sqlalchemy import select

    from app.extensions import db
    from app.shop.models import ShopUser
    return in_app_db(app, lambda: db.session.scalar(select(ShopUser.id).where(ShopUser.email == email)))
