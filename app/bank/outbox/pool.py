"""A worker that leases outbox rows and sends each on a bounded pool of threads.

Shared by the webhook and the push workers: the pool, the set of rows this worker's
threads are sending (never leased a second time while it sends them), and the
wake-up when a thread frees, so the next row goes now rather than at the next tick.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

from ...common.background import BackgroundLoop
from . import leases


class OutboxWorker(BackgroundLoop):
    """Subclasses say how to lease what is due (`lease_due`) and how to send one claim (`send`)."""

    claim_key = "id"  # the attribute of a claim that names its row

    def __init__(self, app, threads):
        super().__init__(app)
        self.threads = max(1, threads)
        self.worker_id = leases.new_worker_id()
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=self.name)
        self._sending = set()  # the rows this worker's threads hold
        self._sending_lock = threading.Lock()

    def lease_due(self, free_threads, sending, now):
        """Lease (and commit) at most `free_threads` due rows, none of `sending`; return their claims."""
        raise NotImplementedError

    def send(self, claim):
        """Send one leased row and record its outcome under the lease (inside an app context)."""
        raise NotImplementedError

    def stop(self):
        super().stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def run_once(self):
        for claim in self.claim_due():
            self.pool.submit(self._send, claim)

    def has_free_thread(self):
        """A thread could start a send now (a row leased to this worker would not wait in the queue)."""
        with self._sending_lock:
            return len(self._sending) < self.threads

    def submit(self, claims):
        """Send rows this worker already leased and committed (outside its own pass), on its pool."""
        with self._sending_lock:
            self._sending.update(getattr(claim, self.claim_key) for claim in claims)
        for claim in claims:
            self.pool.submit(self._send, claim)

    def claim_due(self, now=None):
        """Lease what the free threads can send now (committed before any network call); return the claims."""
        with self._sending_lock:
            free_threads, sending = self.threads - len(self._sending), set(self._sending)
        if free_threads <= 0:
            return []
        with self.app.app_context():
            claims = self.lease_due(free_threads, sending, now)
        with self._sending_lock:
            self._sending.update(getattr(claim, self.claim_key) for claim in claims)
        return claims

    def _send(self, claim):
        try:
            with self.app.app_context():
                self.send(claim)
        finally:
            with self._sending_lock:
                self._sending.discard(getattr(claim, self.claim_key))
            self.wake()  # a thread is free: claim the next row now, not at the next tick
