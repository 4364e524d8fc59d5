"""The bank's background workers: webhook delivery, and expiry (of payment requests and idle sign-ins).

Each is a `BackgroundLoop` (app/common/background.py): off the request path, woken at
once after a decision instead of at the next tick.
"""
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ...common.background import BackgroundLoop
from ...common.http import HttpClient
from ...common.signins import end_idle_sign_ins
from ...extensions import db
from .. import services
from . import leases, webhooks

log = logging.getLogger(__name__)


SESSION_SWEEP_SECONDS = 15


class WebhookWorker(BackgroundLoop):
    """Delivers due webhooks on a bounded pool.

    Each pass claims (leases) only what its free threads can send now, at most one
    event per merchant endpoint across every process, so a merchant that never
    answers holds one thread until its timeout, never the others' deliveries.
    """

    interval_setting = "BANK_WORKER_INTERVAL_SECONDS"
    name = "webhook-worker"

    def __init__(self, app):
        super().__init__(app)
        self.http = HttpClient.from_config(app.config, sender="bank", receiver="shop")  # the merchant's lane
        self.threads = max(1, app.config["WEBHOOK_WORKER_THREADS"])
        self.lease_seconds = app.config["WEBHOOK_LEASE_SECONDS"]
        self.worker_id = leases.new_worker_id()
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="webhook")
        self._sending = set()  # event ids this worker's threads hold
        self._sending_lock = threading.Lock()

    def stop(self):
        super().stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def run_once(self):
        for claim in self.claim_due():
            self.pool.submit(self._send, claim)

    def claim_due(self):
        """Lease what the free threads can send now (committed before any POST); return the claims."""
        with self._sending_lock:
            free_threads, sending = self.threads - len(self._sending), set(self._sending)
        if free_threads <= 0:
            return []
        with self.app.app_context():
            claims = webhooks.claim_due_webhooks(self.worker_id, free_threads, self.lease_seconds, sending=sending)
        with self._sending_lock:
            self._sending.update(claim.event_id for claim in claims)
        return claims

    def _send(self, claim):
        try:
            with self.app.app_context():
                try:
                    webhooks.deliver_claimed(claim.event_id, self.http, self.app.config, self.worker_id)
                except Exception:  # counted as a failed attempt (with backoff, then abandoned): never a loop
                    log.exception("webhook delivery failed")
                    db.session.rollback()
                    webhooks.record_failed_attempt(claim.event_id, self.app.config, self.worker_id)
        finally:
            with self._sending_lock:
                self._sending.discard(claim.event_id)
            self.wake()  # a thread is free: claim the next event now, not at the next tick


class ExpiryWorker(BackgroundLoop):
    """Expires overdue payment requests (the bank app hears it, the webhook worker wakes), and ends idle
    bank and portal sign-ins (their sockets close).

    A loop of its own, so slow webhook or push sends never hold up an expiry.
    """

    interval_setting = "BANK_WORKER_INTERVAL_SECONDS"
    name = "expiry-worker"

    def __init__(self, app):
        super().__init__(app)
        self.next_session_sweep = 0.0

    def run_once(self):
        with self.app.app_context():
            services.expire_overdue_payment_requests()  # each expiry is announced as it commits
            if time.monotonic() >= self.next_session_sweep:
                self.next_session_sweep = time.monotonic() + SESSION_SWEEP_SECONDS
                for server in ("bank", "merchant"):
                    end_idle_sign_ins(server, self.app.config.get(f"{server.upper()}_SESSION_IDLE_SECONDS", 0),
                                      self.app.config.get(f"{server.upper()}_SESSION_MAX_SECONDS", 0))
