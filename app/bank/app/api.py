"""The bank app's JSON under /bank/app/api/: what its pages and its service worker call.

Pages send their CSRF token in the X-CSRFToken header. Domain refusals are
answered by this blueprint with the status and code they carry (see __init__).
"""
from flask import current_app, g, jsonify, request, session, url_for
from sqlalchemy import select
from webauthn import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url

from ...common import tracing
from ...common.errors import ApiError
from ...extensions import csrf, db
from ...common.ratelimit import rate_limited
from ...common.tracing import walkthrough_step
from .. import devices, ledger, passkeys, services
from ..models import Device, PushAttempt
from ..notify import bank_app_url, wake_worker
from ..outbox import push
from ..outbox.vapid import application_server_key
from . import api_bp as bp
from .auth import continue_payments_journey, customer_required


def json_body():
    """The request's JSON object, or a 400: a list, a number or broken JSON is never a 500."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "Send a JSON object.")
    return body


def text_field(body, name):
    """A string field of a JSON body ('' when absent); another type is the caller's mistake, a 422."""
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(422, "invalid_field", f"{name} must be a string.")
    return value


def _credential_from_body():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
        raise ApiError(400, "invalid_json", "Send {credential: …} as the browser returned it.")
    return body


# --- approvals ----------------------------------------------------------------------

@bp.get("/approvals")
@customer_required
def approvals():
    """Pending approvals as JSON: the live list refreshes from here after each socket event."""
    return jsonify(approvals=[_approval_json(p) for p in services.pending_requests_for(g.customer)],
                   balance=ledger.balance_of(g.customer.account))


@bp.get("/approvals/<public_id:request_id>")
@customer_required
def approval(request_id):
    return jsonify(_approval_json(services.payment_request_for_customer(g.customer, request_id)))


def _approval_json(payment):
    return {"id": payment.id, "status": payment.effective_status, "amount": payment.amount,
            "amount_text": current_app.jinja_env.filters["money"](payment.amount),
            "merchant": payment.merchant.name, "description": payment.description,
            "binding_code": payment.binding_code, "expires_at": payment.to_api()["expires_at"],
            "decline_reason": payment.decline_reason,
            "url": url_for("bank.app.approval", request_id=payment.id)}


# --- fingerprint or face (WebAuthn) ---------------------------------------------------

@bp.post("/passkeys/options")
@customer_required
@rate_limited("RATELIMIT_PIN", per="signed-in")
def passkey_registration_options():
    """Setting up a fingerprint needs the PIN first: a stolen password must not be able to add one.

    A missing PIN is a 422, a wrong PIN or a locked card one and the same 403."""
    options, challenge = passkeys.registration_options(g.customer, current_app.config["PUBLIC_URL"],
                                                       pin=text_field(json_body(), "pin"))
    session["webauthn_registration"] = bytes_to_base64url(challenge)
    return current_app.response_class(options, mimetype="application/json")


@bp.post("/passkeys")
@customer_required
def register_passkey():
    body = _credential_from_body()
    challenge = session.pop("webauthn_registration", None)
    if not challenge:
        raise ApiError(409, "no_challenge", "Start the fingerprint setup again.")
    try:
        passkey = passkeys.register_passkey(g.customer, body["credential"], base64url_to_bytes(challenge),
                                            current_app.config["PUBLIC_URL"], body.get("name"))
    except passkeys.PasskeyError as exc:
        raise ApiError(422, "passkey_refused", exc.message) from None  # a set-up that failed, not a refusal
    return jsonify(id=passkey.id, name=passkey.name), 201


@bp.post("/approvals/<public_id:request_id>/passkey-options")
@customer_required
def approval_passkey_options(request_id):
    services.payment_request_for_customer(g.customer, request_id)
    try:
        options, challenge = passkeys.authentication_options(g.customer, current_app.config["PUBLIC_URL"])
    except passkeys.PasskeyError as exc:
        raise ApiError(409, "no_passkey", exc.message) from None  # none set up yet: the PIN is the way
    session["webauthn_approval"] = {"request_id": request_id, "challenge": bytes_to_base64url(challenge)}
    return current_app.response_class(options, mimetype="application/json")


@bp.post("/approvals/<public_id:request_id>/approve-with-passkey")
@walkthrough_step("approval", factors=["possession:passkey", "inherence:fingerprint"], caller="phone")
@customer_required
def approve_with_passkey(request_id):
    """Possession and inherence in one signed answer from the phone's authenticator."""
    body = _credential_from_body()
    continue_payments_journey(request_id)
    pending = session.pop("webauthn_approval", None)
    if not pending or pending.get("request_id") != request_id:
        raise ApiError(409, "no_challenge", "Tap Approve with fingerprint again.")
    # The service verifies the assertion itself: no approval "with a passkey" without one.
    payment = services.approve_payment_request_with_passkey(
        g.customer, request_id, body["credential"], base64url_to_bytes(pending["challenge"]),
        current_app.config["PUBLIC_URL"])
    return jsonify(_approval_json(payment))


# --- devices and push -----------------------------------------------------------------

@bp.get("/push/key")
def push_key():
    """The VAPID public key, as `applicationServerKey` for pushManager.subscribe()."""
    return jsonify(public_key=application_server_key(current_app.extensions["bank_vapid"]))


@bp.get("/devices")
@customer_required
def devices_list():
    this_device = devices.device_for_token(g.customer, request.cookies.get(devices.DEVICE_COOKIE))
    return jsonify(devices=[dict(d.to_json(), this_device=d is this_device) for d in devices.devices_of(g.customer)])


@bp.post("/devices")
@customer_required
@rate_limited("RATELIMIT_PIN", per="signed-in")
def register_device():
    """Register this browser as a device (PIN needed the first time), with push if a subscription comes."""
    body = json_body()
    device, new_token = devices.register_device(g.customer, request.cookies.get(devices.DEVICE_COOKIE),
                                                body.get("subscription"), body.get("name"),
                                                pin=text_field(body, "pin"))
    response = jsonify(dict(device.to_json(), this_device=True))
    response.status_code = 201
    if new_token:
        set_device_cookie(response, new_token)
    return response


def set_device_cookie(response, token):
    """The device token: HttpOnly (no script reads it), for the bank's paths only, kept for a year."""
    response.set_cookie(devices.DEVICE_COOKIE, token, max_age=365 * 24 * 3600, path="/bank/", httponly=True,
                        samesite="Lax", secure=current_app.config["PUBLIC_URL"].startswith("https://"))


@bp.delete("/devices/<int:device_id>")
@customer_required
def remove_device(device_id):
    devices.remove_device(g.customer, device_id)
    return "", 204


@bp.get("/devices/this")
@customer_required
def this_device():
    """Is this browser one of the customer's devices, and which push subscription does the bank hold for it?

    The bank app asks each time it opens, to keep the subscription alive (pwa/js/keep-push.js)."""
    device = devices.device_for_token(g.customer, request.cookies.get(devices.DEVICE_COOKIE))
    if device is None:
        return jsonify(registered=False, push=False, endpoint=None)
    return jsonify(registered=True, push=bool(device.endpoint), endpoint=device.endpoint, device=device.to_json())


@bp.put("/devices/this/subscription")
@customer_required
def keep_subscription():
    """The browser's current subscription for this device: the bank takes it if it changed."""
    device, changed = devices.keep_subscription(g.customer, request.cookies.get(devices.DEVICE_COOKIE),
                                                json_body().get("subscription"))
    return jsonify(changed=changed, device=dict(device.to_json(), this_device=True))


@bp.post("/devices/test")
@customer_required
@rate_limited("RATELIMIT_TEST_PUSH", per="signed-in")
def test_push():
    """Send me a test notification: the whole path, bank → push service → service worker."""
    queued = push.queue_test_push(g.customer, bank_app_url())
    if not queued:
        raise ApiError(409, "no_device", "Enable notifications on this device first.")
    wake_worker("bank_push_worker")
    return jsonify(queued=queued), 202


@bp.post("/devices/resubscribe")
@csrf.exempt  # sent by the service worker, which has no page token; the device cookie is the proof
def resubscribe():
    """The service worker's new subscription after `pushsubscriptionchange`.

    Its request carries the device's HttpOnly token cookie (SameSite=Lax, so never
    from another site): that, not the old endpoint URL, proves it is this device.
    """
    device = devices.replace_subscription(request.cookies.get(devices.DEVICE_COOKIE), json_body().get("subscription"))
    return jsonify(device.to_json())


@bp.post("/push/receipt")
@csrf.exempt  # sent by the service worker, which has no page token; it only adds a line to a trace
@customer_required
def push_receipt():
    """The service worker reports that a push reached this phone (shown in the walkthrough).

    Only for the customer's own payment: nobody can write into another learner's journey."""
    body = json_body()
    payment_id = body.get("id") if isinstance(body.get("id"), str) else ""
    payment = services.payment_request_for_customer(g.customer, payment_id)
    devices.note_push_receipt(g.customer, request.cookies.get(devices.DEVICE_COOKIE))
    if payment.trace_id:
        with tracing.trace(payment.trace_id):
            tracing.record_message("push", data={"id": payment.id, "type": "payment_request"})
    return "", 204


@bp.get("/diagnostics")
@customer_required
def diagnostics():
    """What the bank knows: the devices, and the last push it sent to each."""
    last = db.session.scalars(select(PushAttempt).join(Device).where(Device.customer_id == g.customer.id)
                              .order_by(PushAttempt.id.desc()).limit(1)).first()
    return jsonify(devices=[dict(d.to_json(), endpoint=d.endpoint) for d in devices.devices_of(g.customer)],
                   last_push={"attempted_at": last.attempted_at.isoformat() + "Z", "status": last.status_code,
                              "error": last.error} if last else None)
