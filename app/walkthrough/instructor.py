"""The instructor's view at /instructor/: how far the class has got, a stuck learner's phone, and the
health of the deployment, refreshed every few seconds.

It lives with the walkthrough because the walkthrough already records every step of every learner
(sign-in, Pay now, the push reaching the phone, the approval and the factors it checked, the
webhook): the class's progress is counted from those records. What only the bank knows (phones
registered, pushes delivered, its outboxes' backlog, one phone's last push and receipt) it asks
the bank for over HTTP, with the instructor's password, as any other server would: no server's
code is imported. The processes and the queue come from the process bus (app/common/process_bus.py).
"""
import json
import time

import requests
from flask import Blueprint, current_app, jsonify, render_template, request
from sqlalchemy import distinct, func, select

from ..common.errors import ApiError
from ..common.http import HttpClient
from ..common.instructor import INSTRUCTOR_USER, instructor_required
from ..extensions import db
from .models import Journey, TraceMessage, WalkthroughOpening

bp = Blueprint("instructor", __name__, url_prefix="/instructor")
REFRESH_SECONDS = 3  # how often the page asks again


def _owners(*where):
    """How many learners (journey owners) have a recorded message matching `where`."""
    return db.session.scalar(select(func.count(distinct(Journey.owner))).select_from(TraceMessage)
                             .join(Journey, TraceMessage.journey_id == Journey.id)
                             .where(Journey.owner.isnot(None), *where)) or 0


def _succeeded():
    return TraceMessage.status.like("2%") | TraceMessage.status.like("3%")


def approvals_by_factor():
    """Learners who approved a payment with each factor: the approval steps that were not refused,
    by the factors they checked (knowledge:pin for the PIN, possession:passkey for a passkey)."""
    learners = {"pin": set(), "passkey": set()}
    rows = db.session.execute(select(Journey.owner, TraceMessage.details).join(Journey)
                              .where(TraceMessage.step == "approval", Journey.owner.isnot(None), _succeeded()))
    for owner, details in rows:
        payload = json.loads(details)
        if payload.get("refusal"):
            continue
        factors = payload.get("factors") or []
        if "knowledge:pin" in factors:
            learners["pin"].add(owner)
        if "possession:passkey" in factors:
            learners["passkey"].add(owner)
    return {factor: len(owners) for factor, owners in learners.items()}


def class_progress():
    """The class, step by step, from the walkthrough's records (each learner counted once per step)."""
    approved = approvals_by_factor()
    return {
        "signed_in": _owners(TraceMessage.step == "signin_callback", _succeeded()),
        "opened_walkthrough": db.session.scalar(select(func.count()).select_from(WalkthroughOpening)) or 0,
        "paid": _owners(TraceMessage.step == "pay_now", _succeeded()),
        "push_reached_phone": _owners(TraceMessage.kind == "push", TraceMessage.sender == "push"),
        "approved_with_pin": approved["pin"],
        "approved_with_passkey": approved["passkey"],
        "order_paid": _owners(TraceMessage.step == "webhook", _succeeded()),
    }


def _ask_bank(path, **params):
    """GET one of the bank's instructor figures: (HTTP status, JSON or None, why not or None)."""
    config = current_app.config
    http = HttpClient.from_config(config, sender="walkthrough", receiver="bank")
    try:
        # As bytes: requests would send a str password as latin-1, which the bank reads as UTF-8 (and "€" fails).
        response = http.get(f"{config['BANK_API_URL']}/instructor/api/{path}", params=params, timeout=(3, 5),
                            auth=(INSTRUCTOR_USER.encode(), config["INSTRUCTOR_PASSWORD"].encode("utf-8")))
    except requests.RequestException as exc:
        return None, None, f"The bank did not answer ({type(exc).__name__})."
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        return response.status_code, None, body.get("message") or f"The bank answered HTTP {response.status_code}."
    return 200, body, None


def deployment_health():
    """The processes that answer (each says so every few seconds), the queue, and how long a ping takes."""
    bus = current_app.extensions["process_bus"]
    started = time.perf_counter()
    processes, queue_error = bus.members()
    return {"processes": processes, "queue": {
        "configured": bus.url is not None, "ok": queue_error is None, "error": queue_error,
        "round_trip_ms": round((time.perf_counter() - started) * 1000, 1) if bus.url else None}}


@bp.get("/")
@instructor_required
def index():
    return render_template("walkthrough/instructor.html", refresh_seconds=REFRESH_SECONDS)


@bp.get("/api/overview")
@instructor_required
def overview():
    """Everything the page shows but one learner's phone: the class, the bank's figures, the deployment."""
    _status, bank, bank_error = _ask_bank("class")
    return jsonify(refreshed_every=REFRESH_SECONDS, class_progress=class_progress(), bank=bank,
                   bank_error=bank_error, deployment=deployment_health())


@bp.get("/api/learner")
@instructor_required
def learner():
    """A stuck learner's phone, as the bank sees it: ?username=… (their bank app user name)."""
    username = request.args.get("username", "").strip()
    if not 0 < len(username) <= 80 or "\x00" in username:
        raise ApiError(422, "invalid_field", "username: the learner's bank app user name (1 to 80 characters).")
    status, diagnostics, error = _ask_bank("customers", username=username)
    if status == 404:
        raise ApiError(404, "not_found", error)
    if diagnostics is None:  # the bank is away: the page says so, and tries again at the next refresh
        raise ApiError(503, "bank_unavailable", error)
    return jsonify(diagnostics)
