"""The bank's background workers: a loop that wakes on a tick or on demand.

They run off the request path so that a slow merchant or push service never
slows a customer's approval. `wake()` makes a worker act at once after a
decision instead of at the next tick.
"""
import logging
import threading
import time

from ..common.http import HttpClient
from ..common.signins import end_idle_sign_ins
from . import notify, services, webhooks

log = logging.getLogger(__name__)


class BackgroundLoop:
    """A daemon thread calling `run_once()` every `interval` seconds, or sooner when woken."""

    name = "worker"

    def __init__(self, app):
        self.app = app
        self.interval = app.config["BANK_WORKER_INTERVAL_SECONDS"]
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def start(self):
        with self._lock:
            if self._thread is None:
                self.before_start()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def before_start(self):
        """Hook: put things right that a previous process left half done."""

    def stop(self):
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def wake(self):
        self._wake.set()

    def run_once(self):
        raise NotImplementedError

    def _run(self):
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.run_once()
            except Exception:  # keep the worker alive; the next tick tries again
                log.exception("%s pass failed", self.name)


SESSION_SWEEP_SECONDS = 15


class BankWorker(BackgroundLoop):
    """Expires overdue payment requests and delivers due webhooks."""

    name = "bank-worker"

    def __init__(self, app):
        super().__init__(app)
        self.http = HttpClient.from_config(app.config, sender="bank")
        self.next_session_sweep = 0.0

    def run_once(self):
        with self.app.app_context():
            for payment in services.expire_overdue_payment_requests():
                notify.payment_request_changed(payment)
            if time.monotonic() >= self.next_session_sweep:  # idle sessions end, and their sockets close
                self.next_session_sweep = time.monotonic() + SESSION_SWEEP_SECONDS
                for server in ("bank", "merchant"):
                    end_idle_sign_ins(server, self.app.config.get(f"{server.upper()}_SESSION_IDLE_SECONDS", 0),
                                      self.app.config.get(f"{server.upper()}_SESSION_MAX_SECONDS", 0))
            webhooks.deliver_due_webhooks(self.http, self.app.config)
