"""Turn what the tracing hook reports into stored, redacted, lane-to-lane messages, and show them live.

It sees only what the common hook reports (HTTP client, push sender, socket
emitter, the browsers' requests): no server's internals.
"""
import json
import logging
import queue
import threading
import time
from datetime import timedelta
from urllib.parse import urlparse

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..common import tracing
from ..common.clock import utcnow
from .models import Journey, TraceMessage
from .redaction import redact, redact_body, redact_headers, redact_third_parties

log = logging.getLogger(__name__)
LANES = ["laptop", "shop", "idp", "bank", "push", "phone"]  # drawn on every diagram, in this order
ATTACKER = "attacker"  # the attack lab's lane (app/lab), drawn first on a journey that has its arrows


def classify(app, kind, details):
    """(sender lane, receiver lane, label, status, step, factors) for a reported message, or None.

    The step and its factors are what the view that served the request declares
    (`tracing.walkthrough_step`); lanes are what the HTTP client and the request say.
    No server's URLs are known here.
    """
    step = None
    if kind == "http":
        path = urlparse(details["url"]).path
        sender, receiver = details["sender"], details.get("receiver")
        step = details.get("step") or tracing.declared_step(
            app, tracing.endpoint_for(app, details["method"], path))
        label = "Web Push (encrypted)" if receiver == "push" else f"{details['method']} {path}"
        status = details.get("status")
    elif kind == "http-in":
        step = tracing.declared_step(app, details.get("endpoint"))
        if step is None:
            return None  # a browser's other requests (cart, address…) are not part of the payment story
        sender, receiver = step.caller, details.get("server")
        label, status = f"{details['method']} {details['path']}", details.get("status")
    elif kind == "socket":
        namespace = details.get("namespace")
        sender, receiver = ("shop", "laptop") if namespace == "/shop" else ("bank", "phone")
        label, status = f"socket: {details['event']}", None
    elif kind == "push":
        sender, receiver, label, status = "push", "phone", "push delivered to the phone", None
    elif kind == "ledger":
        sender = receiver = "bank"
        label, status = "ledger: transfer posted", None
    else:
        return None
    if receiver not in LANES or sender not in (*LANES, ATTACKER):
        return None  # a call to someone the walkthrough has no lane for
    name, factors = (step[0], list(step[1])) if step else (kind, [])
    return sender, receiver, label, status, name, factors


class RecordQueue:
    """Takes note of messages on the caller's path and records them on a thread of its own.

    Storing a message and pushing it to the open walkthrough is a database commit and a
    socket emit: neither belongs inside the HTTP client's `finally`, on a payment's path.
    The drain thread starts on demand and ends when idle (test runs make hundreds of apps).
    """

    IDLE_SECONDS = 5
    BATCH = 50  # messages stored in one transaction when they queue up (a classroom's checkouts at once)
    # How long the first message of a batch waits for the rest of its burst: an approval reports half a
    # dozen messages within a few milliseconds (the approval, the ledger, the sockets, the webhook out and
    # in). Stored one by one, each was a commit of its own, and the recorder a good share of a loop's
    # statements; a learner watching the walkthrough does not see 50 ms.
    LINGER_SECONDS = 0.05

    def __init__(self, app, store=None):
        self.app = app
        self.store = store or record_many  # store(app, [(kind, details), …]) on the queue's thread
        self.queue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.thread = None

    def take(self, app, kind, details):
        self.queue.put((kind, details))
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._drain, name="walkthrough-recorder", daemon=True)
                self.thread.start()

    def _drain(self):
        while True:
            try:
                kind, details = self.queue.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self.lock:
                    if self.queue.empty():
                        self.thread = None
                        return
                continue
            batch = [(kind, details)]
            until = time.monotonic() + self.LINGER_SECONDS
            while len(batch) < self.BATCH:
                try:
                    batch.append(self.queue.get(timeout=max(until - time.monotonic(), 0)))
                except queue.Empty:
                    break
            try:
                self.store(self.app, batch)
            except Exception:
                log.exception("could not store %d reported messages", len(batch))


def record(app, kind, details):
    """The tracing observer: store the message of a journey and push it to the owner's open walkthrough."""
    record_many(app, [(kind, details)])


def record_many(app, reported):
    """Store several reported messages in one transaction, then push each to its owner's walkthrough.

    One commit for what queued up meanwhile, not one per message: under a classroom's load the
    recorder was a good tenth of the server's time, mostly in its ten commits per checkout.
    """
    prepared = [message for message in (_prepare(app, kind, details) for kind, details in reported) if message]
    if not prepared:
        return
    with app.app_context(), Session(app.extensions["sqlalchemy"].engines[None], expire_on_commit=False) as session:
        stored = [_store(session, *message) for message in prepared]
        session.commit()
        sent = [(message_json(message), message.journey.owner) for message in stored if message is not None]
    for data, owner in sent:
        if owner:
            app.extensions["socketio"].emit("message", data, to=f"owner:{owner}", namespace="/walkthrough")


def _prepare(app, kind, details):
    """Classify and redact a reported message (no database): (trace id, kind, details, classified, payload)."""
    trace_id = details.get("trace_id")
    if not trace_id:
        return None
    classified = classify(app, kind, details)
    if classified is None:
        return None
    sender, receiver, label, status, step, factors = classified
    details = redact_third_parties(kind, details)
    payload = {
        "request": {"headers": redact_headers(details.get("request_headers")),
                    "body": redact_body(details.get("request_body"))},
        "response": {"headers": redact_headers(details.get("response_headers")),
                     "body": redact_body(details.get("response_body"))},
        "data": redact(details.get("data")), "entries": details.get("entries"), "error": details.get("error"),
        "factors": factors, "url": details.get("url") or details.get("path"),
        "refusal": _refusal(details, status), "push": details.get("push"),
    }
    attack = (details.get("notes") or {}).get("attack")
    if attack:  # what the attack lab tried, in words (app/lab)
        payload["attack"] = attack
    return trace_id, kind, details, classified, payload


def _store(session, trace_id, kind, details, classified, payload):
    """Add one prepared message to its journey in `session` (the caller commits); None if kept out."""
    sender, receiver, label, status, step, _factors = classified
    journey = _journey(session, trace_id)
    owner = details.get("owner")
    if owner and journey.owner and owner != journey.owner:
        log.warning("a message of %s was kept out of a journey owned by someone else", owner)
        return None  # never mix two learners in one journey, whatever a browser's cookie claims
    if owner and not journey.owner:
        journey.owner = owner
    payload["bearer_token"] = _token_story(session, (details.get("notes") or {}).get("bearer_token"), journey)
    # A request is drawn when it started: it caused what happened while it was being served.
    # Taken when it started where known: subtracting its duration from "now" would place it
    # late by however long this thread waited before getting here, out of order on a busy machine.
    ended = details.get("recorded_at") or utcnow()
    started = details.get("started_at") or ended - timedelta(milliseconds=details.get("duration_ms") or 0)
    message = TraceMessage(journey=journey, kind=kind, sender=sender, receiver=receiver, label=label[:200],
                           status=str(status) if status is not None else None,
                           duration_ms=details.get("duration_ms"), step=step,
                           details=json.dumps(payload, ensure_ascii=False), at=started)
    session.add(message)
    return message


def _refusal(details, status):
    """Why the step was refused, and which factor failed, if it was: as the view said (`refuse_step`),
    else from an error status or a call that got no answer."""
    if details.get("refusal"):
        return details["refusal"]
    if details.get("error"):
        return {"reason": f"No answer: {details['error']}", "factor": None}
    if isinstance(status, int) and status >= 400:
        return {"reason": f"Refused with HTTP {status}", "factor": None}
    return None


def _token_story(session, story, journey):
    """Where the bearer token on this call was issued (the shop caches it for its lifetime), so that every
    journey can answer "how does the shop prove itself to the bank?". The issuing journey is linked only
    if it is this learner's own: another learner's checkout is not theirs to open."""
    if not story:
        return None
    issued_in = story.get("issued_in_journey")
    same_owner = issued_in == journey.id or (
        issued_in and journey.owner and getattr(session.get(Journey, issued_in), "owner", None) == journey.owner)
    return {"issued_at": story.get("issued_at"), "expires_at": story.get("expires_at"),
            "issued_in_journey": issued_in if same_owner else None,
            "issued_in": "this checkout" if issued_in == journey.id else
                         "an earlier checkout of yours" if same_owner else "another checkout (the shop shares one token)"}


def _journey(session, trace_id):
    """The journey of `trace_id`, created if it is new.

    Two processes may see the first messages of one journey at once (the shop's on one, the
    bank's on another): the one that loses the race to create it uses the winner's row.
    """
    with session.no_autoflush:  # the batch's messages wait: no write lock is taken just to look
        journey = session.get(Journey, trace_id)
    if journey is None:
        session.commit()  # the batch's messages so far: a lost race below rolls back the new journey only
        session.add(Journey(id=trace_id))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
        journey = session.get(Journey, trace_id)
    return journey


def message_json(message):
    details = json.loads(message.details)
    at = message.at.isoformat(timespec="microseconds") + "Z"  # fine enough to keep causes before effects
    return {"id": message.id, "journey_id": message.journey_id, "at": at, "kind": message.kind,
            "from": message.sender, "to": message.receiver, "label": message.label, "status": message.status,
            "duration_ms": message.duration_ms, "step": message.step, "factors": details.pop("factors", []),
            "refusal": details.pop("refusal", None),
            "details": details}
