"""Messages to every process of one PayLab: wake a worker, close an ended sign-in's sockets.

Socket.IO's message queue carries events to *sockets*; this carries work to *processes*, on
the same Redis (SOCKETIO_MESSAGE_QUEUE), on a channel of its own. Two things need it once
web processes and the worker process are apart:
- a decision committed in a web process must wake the worker process now, so its webhook
  leaves within milliseconds rather than at the worker's next tick;
- a sign-in ended in one process (sign-out, or the worker's idle sweep) must close that
  sign-in's sockets in every process: each process knows only its own sockets.

Without a queue there is one process, and a message is handled where it is sent. Plumbing:
it knows topics and handlers, nothing of what they do. Delivery is best effort (Redis
pub/sub keeps nothing): a lost wake-up costs one worker tick, a lost close leaves a socket
that is refused when it reconnects, since the sign-in record is shared.
"""
import json
import logging
import os
import socket
import threading
import time
from datetime import datetime, timezone

log = logging.getLogger(__name__)

RECONNECT_SECONDS = (0.5, 1, 2, 5)  # waits between tries while Redis is away, the last one repeated
HEARTBEAT_SECONDS = 5  # each listening process says it is alive this often (the instructor's view lists them)


class ProcessBus:
    """Publish `(topic, payload)` to every process of this PayLab; run the handlers registered for it."""

    def __init__(self, app):
        self.app = app
        self.url = app.config.get("SOCKETIO_MESSAGE_QUEUE") or None
        self.channel = f"{app.config.get('SOCKETIO_CHANNEL') or 'paylab'}:processes"
        self.handlers = {}
        self.role = "web"  # "worker" in `flask bank worker`
        self.started_at = datetime.now(timezone.utc)
        self._client = None
        self._thread = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def on(self, topic, handler):
        """Run `handler(payload)` in an app context whenever any process publishes `topic`."""
        self.handlers[topic] = handler

    def publish(self, topic, payload):
        """Tell every process (this one included); never raises: what follows a commit must not undo it."""
        if self.url is None:
            self._handle(topic, payload)
            return
        try:
            self._redis().publish(self.channel, json.dumps([topic, payload]))
        except Exception as exc:  # Redis away: this process at least acts on it
            log.warning("could not tell the other processes %s (%s); handled in this one only", topic, exc)
            self._handle(topic, payload)

    def start(self):
        """Listen for the other processes' messages in a daemon thread (idempotent; nothing without a queue)."""
        with self._lock:
            if self.url is None or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._listen_forever, name="process-bus", daemon=True)
            self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            try:  # gone now, not when its last heartbeat runs out
                self._redis().delete(self._presence_key())
            except Exception:
                pass

    def describe(self):
        """This process, as the instructor's view lists it."""
        socketio = self.app.extensions.get("socketio")
        engine = getattr(getattr(socketio, "server", None), "eio", None)
        return {"host": socket.gethostname(), "pid": os.getpid(), "role": self.role,
                "started_at": self.started_at.isoformat(), "sockets": len(getattr(engine, "sockets", {}) or {})}

    def members(self):
        """Every process that said it is alive within the last heartbeats (this one always): (list, error)."""
        here = self.describe()
        if self.url is None:
            return [here], None
        try:
            client = self._redis()
            keys = sorted(client.scan_iter(match=f"{self.channel}:process:*", count=500))
            found = [json.loads(value) for value in client.mget(keys) if value] if keys else []
        except Exception as exc:
            return [here], f"Redis does not answer ({exc})."
        if not any(member["host"] == here["host"] and member["pid"] == here["pid"] for member in found):
            found.append(here)
        return sorted(found, key=lambda member: (member["role"] != "web", member["host"], member["pid"])), None

    def _presence_key(self):
        return f"{self.channel}:process:{socket.gethostname()}:{os.getpid()}"

    def _say_alive(self, client):
        client.set(self._presence_key(), json.dumps(self.describe()), ex=3 * HEARTBEAT_SECONDS)

    @property
    def listening(self):
        return self._thread is not None and self._thread.is_alive()

    def _redis(self):
        if self._client is None:
            import redis
            self._client = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=2)
        return self._client

    def _handle(self, topic, payload):
        handler = self.handlers.get(topic)
        if handler is None:
            return
        try:
            with self.app.app_context():
                handler(payload)
        except Exception:
            log.exception("handling %s failed", topic)

    def _listen_forever(self):
        import redis
        failures = 0
        while not self._stop.is_set():
            client = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_keepalive=True,
                                          health_check_interval=10)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                failures, said_alive = 0, 0.0
                while not self._stop.is_set():
                    if time.monotonic() - said_alive >= HEARTBEAT_SECONDS:
                        self._say_alive(client)
                        said_alive = time.monotonic()
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._receive(message.get("data"))
            except Exception as exc:  # Redis away, or anything else: the listener must outlive it
                wait = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning("process bus: %s (%s); listening again in %s s",
                            "Redis does not answer" if isinstance(exc, redis.RedisError) else "listener failed",
                            exc, wait)
                self._stop.wait(wait)
            finally:
                pubsub.close()
                client.close()

    def _receive(self, data):
        try:
            topic, payload = json.loads(data)
        except (TypeError, ValueError):
            topic = None
        if not isinstance(topic, str):
            log.warning("process bus: ignored a message that is not [topic, payload]")
            return
        self._handle(topic, payload)


def process_bus(app):
    """The app's bus, made on first use (`app.extensions["process_bus"]`)."""
    bus = app.extensions.get("process_bus")
    if bus is None:
        bus = app.extensions["process_bus"] = ProcessBus(app)
    return bus
