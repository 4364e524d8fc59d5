"""The bank's background worker: expires overdue requests and delivers webhooks.

It runs off the request path so that a slow merchant never slows a customer's
approval. `wake()` makes it act at once after a decision instead of at the next tick.
"""
import logging
import threading

from ..common.http import HttpClient
from . import notify, services, webhooks

log = logging.getLogger(__name__)


class BankWorker:
    def __init__(self, app):
        self.app = app
        self.interval = app.config["BANK_WORKER_INTERVAL_SECONDS"]
        self.http = HttpClient.from_config(app.config, sender="bank")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def start(self):
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="bank-worker", daemon=True)
                self._thread.start()

    def stop(self):
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def wake(self):
        self._wake.set()

    def run_once(self):
        """Expire what is overdue and deliver what is due."""
        with self.app.app_context():
            for payment in services.expire_overdue_payment_requests():
                notify.payment_request_changed(payment)
            webhooks.deliver_due_webhooks(self.http, self.app.config)

    def _run(self):
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.run_once()
            except Exception:  # keep the worker alive; the next tick tries again
                log.exception("bank worker pass failed")
