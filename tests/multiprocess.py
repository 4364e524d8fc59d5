"""Helpers for running PayLab as several real OS processes, and a merchant that receives their webhooks.

`python -m tests.multiprocess INSTANCE PORT SETTINGS_JSON` runs one app process: the
app with werkzeug's threaded server on PORT, its background workers on, on the
instance folder (and databases) that the test prepared.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from app.common.security import verify_webhook_signature

from .support import ProcessExited, stop_process, wait_until_serving

ROOT = Path(__file__).resolve().parent.parent


class AppProcess:
    """One PayLab process on its own port, sharing the instance folder and databases with the others."""

    def __init__(self, instance, port, settings):
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        settings = {"PUBLIC_URL": self.url, "INTERNAL_URL": self.url, "PORT": port, "BACKGROUND_WORKERS": True,
                    **settings}
        self.process = subprocess.Popen([sys.executable, "-m", "tests.multiprocess", str(instance), str(port),
                                         json.dumps(settings)], cwd=ROOT, stdin=subprocess.DEVNULL)

    @property
    def pid(self):
        return self.process.pid

    def wait_ready(self, timeout=30.0):
        try:
            if wait_until_serving(self.process, self.url + "/bank/api/openapi.json", timeout, interval=0.1):
                return self  # that request also started its workers
        except ProcessExited as exc:
            raise AssertionError(f"app process on {self.port} {exc}") from None
        raise AssertionError(f"app process on {self.port} did not start within {timeout} s")

    def kill(self):
        """SIGKILL: no clean-up of any kind, as when a machine or a container dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout=10.0):
        stop_process(self.process, timeout)


def pid_of_local_port(port, pids):
    """Which of `pids` owns the TCP socket bound to local port `port` (Linux /proc), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return pid
        except OSError:
            continue
    return None


GONE = "gone"  # a POST whose sender no longer existed when the receiver looked


class WebhookReceiver:
    """A merchant's webhook endpoint: verifies Bank-Signature, answers 503 to the first
    `failures` deliveries of the events it is told to refuse, then 2xx; counts everything.

    Armed with `hold_next()`, it holds the next delivery unanswered (until `release()`),
    so that the test can kill the process that sent it.
    """

    def __init__(self, webhook_secret, failures=2):
        self.secret, self.failures = webhook_secret, failures
        self.posts = Counter()         # event id -> POSTs received
        self.acknowledged = Counter()  # event id -> 2xx answers given
        self.sender_pids = ()          # when set: the processes to tell each POST's sender among
        self.sent_by = defaultdict(list)          # event id -> the pid of each POST's sender (None: unknown)
        self.acknowledged_to = defaultdict(list)  # event id -> the pid each 2xx answer went to
        self.bad_signatures = 0
        self.refuse = set()            # event ids answered 503 the first `failures` times
        self.refuse_every_nth = 0      # or: refuse event ids whose first POST was the n-th, 2n-th...
        self.held = None               # (event id, peer port) of the held delivery
        self.held_event = threading.Event()
        self._hold_armed = False
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._first_posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver._receive(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def hold_next(self):
        with self._lock:
            self._hold_armed = True

    def release(self):
        self._release.set()

    def _receive(self, request):
        body = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        if not verify_webhook_signature(self.secret, request.headers.get("Bank-Signature", ""), body):
            with self._lock:
                self.bad_signatures += 1
            return self._answer(request, 400)
        event_id = json.loads(body)["id"]
        sender = self._sender_of(request.client_address[1]) if self.sender_pids else None
        with self._lock:
            self.posts[event_id] += 1
            self.sent_by[event_id].append(sender)
            count = self.posts[event_id]
            if count == 1:
                self._first_posts += 1
                if self.refuse_every_nth and self._first_posts % self.refuse_every_nth == 0:
                    self.refuse.add(event_id)
            hold = self._hold_armed and self.held is None
            if hold:
                self._hold_armed = False
                self.held = (event_id, request.client_address[1])
            status = 503 if event_id in self.refuse and count <= self.failures else 200
        if hold:
            self.held_event.set()
            self._release.wait(30)
            return self._answer(request, 200)  # to a sender that is dead by now: nobody reads it
        with self._lock:
            if status == 200:
                self.acknowledged[event_id] += 1
                self.acknowledged_to[event_id].append(sender)
        self._answer(request, status)

    def _sender_of(self, port):
        """Which of `sender_pids` sent the POST on this connection, looked up while it is open; GONE if
        none holds it any more (the sender died after sending: its sockets went with it). A live sender
        can be missed by one read of /proc/net/tcp while sockets come and go, so a miss is read again."""
        for attempt in range(4):
            pid = pid_of_local_port(port, self.sender_pids)
            if pid is not None:
                return pid
            time.sleep(0.01 * (attempt + 1))
        return GONE

    @staticmethod
    def _answer(request, status):
        try:
            request.send_response(status)
            request.send_header("Content-Length", "0")
            request.end_headers()
        except OSError:
            pass


def serve(instance, port, settings):
    """Run one app process until it is terminated."""
    from werkzeug.serving import make_server

    from app import create_app
    from config import TestConfig

    logging_quiet()
    config = type("Config", (TestConfig,), settings)
    app = create_app(config, instance_path=instance)
    server = make_server("127.0.0.1", port, app, threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    server.serve_forever()


def logging_quiet():
    import logging
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]))
