"""The bank's background workers: webhook delivery, and expiry (of payment requests and idle sign-ins).

Each is a `BackgroundLoop` (app/common/background.py): off the request path, woken at
once after a decision instead of at the next tick. The push worker lives with the
push outbox (push.py); both outbox workers share their pool (pool.py).
"""
import logging
import time

from ...common.background import BackgroundLoop
from ...common.http import HttpClient
from ...common.signins import end_idle_sign_ins
from ...extensions import db
from .. import services
from . import webhooks
from .pool import OutboxWorker

log = logging.getLogger(__name__)


SESSION_SWEEP_SECONDS = 15


class WebhookWorker(OutboxWorker):
    """Delivers due webhooks on a bounded pool.

    Each pass claims (leases) only what its free threads can send now, at most
    WEBHOOK_IN_FLIGHT_PER_ENDPOINT events per merchant endpoint across every process, so a
    merchant that never answers holds that many threads until their timeout, never all of them.
    """

    interval_setting = "BANK_WORKER_INTERVAL_SECONDS"
    name = "webhook-worker"
    claim_key = "event_id"

    def __init__(self, app):
        super().__init__(app, app.config["WEBHOOK_WORKER_THREADS"])
        self.http = HttpClient.from_config(app.config, sender="bank", receiver="shop")  # the merchant's lane
        self.lease_seconds = app.config["WEBHOOK_LEASE_SECONDS"]
        # Never the whole pool for one endpoint: a dead merchant must leave threads for the others.
        self.per_endpoint = max(1, min(app.config["WEBHOOK_IN_FLIGHT_PER_ENDPOINT"], self.threads - 1))

    def lease_due(self, free_threads, sending, now):
        return webhooks.claim_due_webhooks(self.worker_id, free_threads, self.lease_seconds, now=now, sending=sending,
                                           per_endpoint=self.per_endpoint)

    def lease_at_queue(self, event, payment):
        """Lease a new event to this worker in the transaction that queues it (see `webhooks.lease_at_queue`),
        when this process runs the worker and a thread is free; returns the delivery to `submit` once the
        transaction commits, or None (the worker's pass will claim it)."""
        if not self.running or not self.has_free_thread():
            return None
        return webhooks.lease_at_queue(event, payment, self.worker_id, self.lease_seconds, self.per_endpoint)

    def send(self, claim):
        try:
            if isinstance(claim, webhooks.WebhookDelivery):  # leased at queue time: all it needs is in hand
                webhooks.deliver_leased(claim, self.http, self.app.config, self.worker_id)
            else:
                webhooks.deliver_claimed(claim.event_id, self.http, self.app.config, self.worker_id)
        except Exception:  # counted as a failed attempt (with backoff, then abandoned): never a loop
            log.exception("webhook delivery failed")
            db.session.rollback()
            webhooks.record_failed_attempt(claim.event_id, self.app.config, self.worker_id)


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
