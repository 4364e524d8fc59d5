"""The bench's Socket.IO clients: laptops' order pages, phones' bank-app pages, a classroom's idle tabs.

Every client is python-socketio's AsyncClient on one asyncio loop in one thread: 1,200 open
sockets then cost the bench one thread, not the two per socket of the threaded client, so
the client side stays light on the two cores it shares with the servers. Each connects as a
browser's page does (`io("/shop", {transports: ["websocket", "polling"]})`): WebSocket first, with
the page's cookies and Origin. Each event is stamped with `time.perf_counter()` the moment it arrives.
"""
import asyncio
import threading
import time

import socketio


class LiveSocket:
    """One connected client; `received` holds (perf_counter, event, data) for the events it listens to."""

    def __init__(self, url, namespace, headers, auth, events):
        self.url, self.namespace, self.headers, self.auth = url, namespace, headers, auth
        self.client = socketio.AsyncClient(reconnection=True, handle_sigint=False)
        self.received = []
        self.disconnects = 0
        self._arrived = threading.Condition()
        for name in events:
            self.client.on(name, self._recorder(name), namespace=namespace)
        self.client.on("disconnect", self._disconnected, namespace=namespace)

    def _recorder(self, name):
        def record(data=None):
            stamp = time.perf_counter()
            with self._arrived:
                self.received.append((stamp, name, data))
                self._arrived.notify_all()
        return record

    def _disconnected(self, *args):
        self.disconnects += 1

    @property
    def connected(self):
        return self.client.connected and self.namespace in self.client.namespaces

    async def open(self, timeout):
        await self.client.connect(self.url, headers=self.headers, auth=self.auth, namespaces=[self.namespace],
                                  transports=["websocket", "polling"], wait_timeout=timeout)

    def first(self, predicate):
        """The first recorded (time, data) whose data matches, or None."""
        with self._arrived:
            for stamp, _name, data in self.received:
                if predicate(data):
                    return stamp, data
        return None

    def wait_for(self, predicate, timeout):
        """Block until an event matching `predicate` has arrived; its (time, data), or None on timeout."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for stamp, _name, data in self.received:
                    if predicate(data):
                        return stamp, data
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._arrived.wait(left)


class SocketHub:
    """The asyncio loop all of the bench's sockets live on, and the calls to open and close them."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.sockets = []
        self._thread = threading.Thread(target=self.loop.run_forever, name="socket-hub", daemon=True)
        self._thread.start()

    def _run(self, coroutine, timeout):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def connect_many(self, specs, concurrency=20, timeout=30.0):
        """Open sockets for specs of (url, namespace, headers, auth, events); returns them (raises if any fails)."""
        sockets = [LiveSocket(*spec) for spec in specs]

        async def open_all():
            gate = asyncio.Semaphore(concurrency)

            async def open_one(sock):
                async with gate:
                    await sock.open(timeout)
            results = await asyncio.gather(*(open_one(s) for s in sockets), return_exceptions=True)
            return [r for r in results if isinstance(r, BaseException)]

        self.sockets.extend(sockets)
        failures = self._run(open_all(), timeout + 10 + len(sockets) * timeout / concurrency)
        if failures:
            raise RuntimeError(f"{len(failures)} of {len(sockets)} sockets failed to connect: {failures[0]!r}")
        return sockets

    def connect(self, url, namespace, headers=None, auth=None, events=("order_status",)):
        return self.connect_many([(url, namespace, headers or {}, auth, events)])[0]

    def close(self, sockets, concurrency=50):
        """Disconnect these sockets (as closing their tabs does)."""
        sockets = list(sockets)

        async def close_all():
            gate = asyncio.Semaphore(concurrency)

            async def close_one(sock):
                async with gate:
                    try:
                        await asyncio.wait_for(sock.client.disconnect(), 10)
                    except Exception:  # already gone: nothing left to close
                        pass
            await asyncio.gather(*(close_one(s) for s in sockets))

        self._run(close_all(), 30 + len(sockets) / 5)
        closing = set(map(id, sockets))
        self.sockets = [s for s in self.sockets if id(s) not in closing]

    def stop(self):
        """Close every socket still open and end the loop's thread."""
        try:
            self.close(self.sockets)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
