"""The bank app's devices, push and diagnostics: pages and their JSON API (CSRF via X-CSRFToken)."""
from flask import current_app, g, jsonify, render_template, request
from sqlalchemy import select

from ..common import tracing
from ..common.errors import ApiError
from ..common.qr import qr_svg
from ..extensions import csrf, db
from ..common.ratelimit import rate_limited
from . import bp, devices, passkeys, push, services
from .app_routes import customer_required, json_body, text_field
from .models import Device, PushAttempt
from .notify import bank_app_url
from .vapid import application_server_key


@bp.get("/app/devices")
@customer_required
def app_devices():
    this_device = devices.device_for_token(g.customer, request.cookies.get(devices.DEVICE_COOKIE))
    return render_template("bank/devices.html", devices=devices.devices_of(g.customer), this_device=this_device,
                           passkeys=passkeys.passkeys_of(g.customer),
                           app_qr=qr_svg(bank_app_url() + "/"), app_url=bank_app_url() + "/")


@bp.get("/app/diagnostics")
@customer_required
def app_diagnostics():
    return render_template("bank/diagnostics.html", public_url=current_app.config["PUBLIC_URL"])


@bp.get("/app/api/push/key")
def app_api_push_key():
    """The VAPID public key, as `applicationServerKey` for pushManager.subscribe()."""
    return jsonify(public_key=application_server_key(current_app.extensions["bank_vapid"]))


@bp.get("/app/api/devices")
@customer_required
def app_api_devices():
    this_device = devices.device_for_token(g.customer, request.cookies.get(devices.DEVICE_COOKIE))
    return jsonify(devices=[dict(d.to_json(), this_device=d is this_device) for d in devices.devices_of(g.customer)])


@bp.post("/app/api/devices")
@customer_required
@rate_limited("RATELIMIT_PIN", per="signed-in")
def app_api_register_device():
    """Register this browser as a device (PIN needed the first time), with push if a subscription comes."""
    body = json_body()
    try:
        device, new_token = devices.register_device(g.customer, request.cookies.get(devices.DEVICE_COOKIE),
                                                    body.get("subscription"), body.get("name"),
                                                    pin=text_field(body, "pin"))
    except services.BankError as exc:
        raise ApiError.from_domain(exc) from None
    except devices.DeviceError as exc:
        raise ApiError(422, "invalid_field", str(exc)) from None
    response = jsonify(dict(device.to_json(), this_device=True))
    response.status_code = 201
    if new_token:
        set_device_cookie(response, new_token)
    return response


def set_device_cookie(response, token):
    """The device token: HttpOnly (no script reads it), for the bank's paths only, kept for a year."""
    response.set_cookie(devices.DEVICE_COOKIE, token, max_age=365 * 24 * 3600, path="/bank/", httponly=True,
                        samesite="Lax", secure=current_app.config["PUBLIC_URL"].startswith("https://"))


@bp.delete("/app/api/devices/<int:device_id>")
@customer_required
def app_api_remove_device(device_id):
    try:
        devices.remove_device(g.customer, device_id)
    except devices.DeviceError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return "", 204


@bp.post("/app/api/devices/test")
@customer_required
@rate_limited("RATELIMIT_TEST_PUSH", per="signed-in")
def app_api_test_push():
    """Send me a test notification: the whole path, bank → push service → service worker."""
    queued = push.queue_test_push(g.customer, bank_app_url())
    if not queued:
        raise ApiError(409, "no_device", "Enable notifications on this device first.")
    current_app.extensions["bank_push_worker"].wake()
    return jsonify(queued=queued), 202


@bp.post("/app/api/devices/resubscribe")
@csrf.exempt  # sent by the service worker, which has no page token; the device cookie is the proof
def app_api_resubscribe():
    """The service worker's new subscription after `pushsubscriptionchange`.

    Its request carries the device's HttpOnly token cookie (SameSite=Lax, so never
    from another site): that, not the old endpoint URL, proves it is this device.
    """
    body = json_body()
    try:
        device = devices.replace_subscription(request.cookies.get(devices.DEVICE_COOKIE), body.get("subscription"))
    except devices.NotARegisteredDevice as exc:
        raise ApiError(403, "not_a_registered_device", str(exc)) from None
    except devices.DeviceError as exc:
        raise ApiError(422, "invalid_field", str(exc)) from None
    return jsonify(device.to_json())


@bp.post("/app/api/push/receipt")
@csrf.exempt  # sent by the service worker, which has no page token; it only adds a line to a trace
@customer_required
def app_api_push_receipt():
    """The service worker reports that a push reached this phone (shown in the walkthrough).

    Only for the customer's own payment: nobody can write into another learner's journey."""
    body = json_body()
    payment_id = body.get("id") if isinstance(body.get("id"), str) else ""
    try:
        payment = services.payment_request_for_customer(g.customer, payment_id)
    except services.NotFound as exc:
        raise ApiError(404, "not_found", exc.message) from None
    if payment.trace_id:
        with tracing.trace(payment.trace_id):
            tracing.record_message("push", data={"id": payment.id, "type": "payment_request"})
    return "", 204


@bp.get("/app/api/diagnostics")
@customer_required
def app_api_diagnostics():
    """What the bank knows: the devices, and the last push it sent to each."""
    last = db.session.scalars(select(PushAttempt).join(Device).where(Device.customer_id == g.customer.id)
                              .order_by(PushAttempt.id.desc()).limit(1)).first()
    return jsonify(devices=[dict(d.to_json(), endpoint=d.endpoint) for d in devices.devices_of(g.customer)],
                   last_push={"attempted_at": last.attempted_at.isoformat() + "Z", "status": last.status_code,
                              "error": last.error} if last else None)
