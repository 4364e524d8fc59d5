"""The one hook through which cross-server messages can be observed.

The HTTP client, the socket emitter (and later the push sender) call
`record_message`; observers (the walkthrough) subscribe with `add_observer`.
Observers must never break the message they watch, so their errors are logged
and swallowed.
"""
import logging

log = logging.getLogger(__name__)
_observers = []


def add_observer(callback):
    if callback not in _observers:
        _observers.append(callback)


def remove_observer(callback):
    if callback in _observers:
        _observers.remove(callback)


def record_message(kind, **details):
    """Tell every observer that a message of `kind` ("http", "socket", "push") just crossed."""
    for observer in list(_observers):
        try:
            observer(kind, details)
        except Exception:
            log.exception("message observer failed")
