"""The one hook through which cross-server messages are observed, and the trace they belong to.

The HTTP client, the push sender and the socket emitter call `record_message`,
which sends the blinker signal `message_crossed` as the app it happens in: an
observer (the walkthrough) connects for its own app only, so the many apps of a
test run never hear each other. A W3C trace context
(`traceparent: 00-<trace id>-<span id>-01`) ties every hop of one checkout
journey together: the trace id is the journey id. It lives in a context
variable, so threads and requests each carry their own. Observers must never
break the message they watch: their errors are logged and swallowed.
"""
import logging
import re
import secrets
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from blinker import Namespace
from flask import current_app, has_app_context
from werkzeug.exceptions import HTTPException

from .clock import utcnow

log = logging.getLogger(__name__)
message_crossed = Namespace().signal("message-crossed")  # sender: the app; kwargs: kind, details
_current = ContextVar("paylab_trace", default=None)
_notes = ContextVar("paylab_trace_notes", default=None)
TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class Step(NamedTuple):
    """A step of the payment story as the walkthrough draws it: its name, the factors it checks
    (`kind:what`, e.g. `knowledge:pin`), and the lane a browser sends it from (laptop or phone)."""
    name: str
    factors: tuple = ()
    caller: str = "laptop"


def walkthrough_step(name, factors=(), caller="laptop"):
    """Declare, where a view is defined, which step of the payment story it serves and which factors it checks.

    Requests to a declared view are drawn in the walkthrough as that step, whoever
    sends them (a browser, or another server through the HTTP client); requests to
    other views are not part of the story and are not drawn.
    """
    def declare(view):
        view.walkthrough_step = Step(name, tuple(factors), caller)
        return view
    return declare


def declared_step(app, endpoint):
    """The Step declared on the view of `endpoint` in `app`, or None."""
    return getattr(app.view_functions.get(endpoint), "walkthrough_step", None)


def endpoint_for(app, method, path):
    """The endpoint of `app` that serves `method path` (a call from one of its servers to another), or None.

    A call to a server this process does not run (or to a push service) matches nothing.
    """
    try:
        endpoint, _ = app.url_map.bind("localhost").match(path, method=method)
    except HTTPException:  # no such route, another method, or a redirect to the slashed URL
        return None
    return endpoint


def journey_owner(shop_user_id):
    """Who a journey belongs to: the learner signed in to the shop (the one place this key is built)."""
    return f"shop-user:{shop_user_id}" if shop_user_id else None


def new_trace_id():
    return secrets.token_hex(16)


def parse_traceparent(value):
    """The trace id of a valid W3C traceparent header, else None (version ff and all-zero ids are invalid)."""
    match = TRACEPARENT.match((value or "").strip().lower())
    if not match:
        return None
    version, trace_id, span_id, _ = match.groups()
    if version == "ff" or trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id


def traceparent_header(trace_id):
    """A traceparent for an outgoing call: same trace, a new span."""
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def current_trace():
    """(trace_id, owner) of the journey being served, or (None, None)."""
    return _current.get() or (None, None)


def set_trace(trace_id, owner=None):
    """Make `trace_id` current until `reset_trace(token)`; returns the token."""
    return _current.set((trace_id, owner) if trace_id else None)


def reset_trace(token):
    _current.reset(token)


@contextmanager
def trace(trace_id, owner=None):
    token = set_trace(trace_id, owner)
    try:
        yield
    finally:
        reset_trace(token)


@contextmanager
def notes(**values):
    """Attach `values` to every message recorded inside this block: what only the caller knows about
    it, such as the plaintext a push encrypted, or where the bearer token on a call was issued."""
    token = _notes.set({**(_notes.get() or {}), **values})
    try:
        yield
    finally:
        _notes.reset(token)


def record_message(kind, **details):
    """Tell this app's observers that a message of `kind` ("http", "http-in", "socket", "push", "ledger") crossed.

    Observers get it on the caller's path, so they must only take note (the walkthrough
    queues it); their errors are logged and swallowed. Outside an app there is nobody to tell.
    """
    if not has_app_context():
        return
    trace_id, owner = current_trace()
    details.setdefault("trace_id", trace_id)
    details.setdefault("owner", owner)
    details.setdefault("recorded_at", utcnow())  # when it happened, whenever an observer gets to it
    if _notes.get():
        details.setdefault("notes", _notes.get())
    app = current_app._get_current_object()
    for receiver in message_crossed.receivers_for(app):
        try:
            receiver(app, kind=kind, details=details)
        except Exception:
            log.exception("message observer failed")


# --- Flask: continue a trace that arrives with a request, record what browsers send -----------------

def refuse_step(reason, factor=None):
    """The view refused what this request asked (a wrong PIN, an unregistered device…): the walkthrough
    draws the step as refused, saying which factor failed (`kind:what`, if one did) and why."""
    from flask import g
    g.paylab_refusal = {"reason": reason, "factor": factor}


def continue_trace(trace_id, owner=None):
    """Serve the rest of this request inside `trace_id` (undone at teardown)."""
    from flask import g
    g.setdefault("paylab_trace_tokens", []).append(set_trace(trace_id, owner))


def init_request_tracing(app):
    from flask import g, request

    @app.before_request
    def _continue_incoming_trace():
        g.paylab_request_started = time.monotonic()
        g.paylab_request_started_at = utcnow()
        trace_id = parse_traceparent(request.headers.get("traceparent"))
        if trace_id:
            continue_trace(trace_id)

    @app.after_request
    def _record_browser_request(response):
        """A browser's request to a view that declares its step (another server's call is recorded by its
        HTTP client, which also sees what went wrong when no answer came)."""
        trace_id, _ = current_trace()
        from_a_browser = "traceparent" not in request.headers
        if trace_id and from_a_browser and declared_step(app, request.endpoint):
            record_message("http-in", method=request.method, path=request.path, status=response.status_code,
                           endpoint=request.endpoint, server=request.blueprints[-1] if request.blueprints else None,
                           refusal=g.get("paylab_refusal"),
                           duration_ms=round((time.monotonic() - g.get("paylab_request_started", time.monotonic())) * 1000, 1),
                           started_at=g.get("paylab_request_started_at"),
                           request_body=request.form.to_dict() or request.get_json(silent=True),
                           response_headers={"Location": response.headers.get("Location")}
                           if response.headers.get("Location") else {})
        return response

    @app.teardown_request
    def _end_trace(exc):
        for token in reversed(g.pop("paylab_trace_tokens", [])):
            reset_trace(token)
