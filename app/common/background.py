"""A background loop: a daemon thread that wakes on a tick or on demand.

Workers run off the request path, so a slow merchant or push service never slows a
customer's approval; `wake()` makes one act at once after a decision instead of at the
next tick. Plumbing: it knows nothing of what a worker does.
"""
import logging
import threading

log = logging.getLogger(__name__)


class BackgroundLoop:
    """A daemon thread calling `run_once()` every `interval` seconds, or sooner when woken."""

    name = "worker"
    interval_setting = None  # the config key of the tick, in seconds (each kind of worker names its own)

    def __init__(self, app):
        self.app = app
        self.interval = app.config[self.interval_setting]
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

    @property
    def running(self):
        """Started in this process and not stopped: work handed to it now will be done here."""
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

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
