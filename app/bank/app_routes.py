"""The bank app at /bank/app/: log in, see and decide pending approvals, see the account.

Made for a phone screen first. Views are thin; `services` does the work.
"""
from functools import wraps

from flask import (current_app, flash, g, jsonify, redirect, render_template, request, send_from_directory,
                   session, url_for)
from webauthn import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url

from ..common.errors import ApiError
from ..common import tracing
from ..common.ratelimit import rate_limited
from ..common.security import local_path_or
from ..common.signins import begin_sign_in, end_sign_in
from ..extensions import db
from . import PWA_DIR, bp, devices, ledger, passkeys, services
from .forms import ApproveForm, ConfirmForm, LoginForm, SignupForm
from .models import Customer

DECLINE_REASON_TEXT = {"customer_declined": "You declined it.", "insufficient_funds": "Not enough money in the account.",
                       "card_blocked": "The card is blocked."}


def _safe_next(target):
    """Only local bank-app paths: never an open redirect."""
    return local_path_or(target, "/bank/app/", url_for("bank.app_home"))


def customer_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        customer = db.session.get(Customer, session.get("customer_id") or 0)
        if customer is None:
            if request.path.startswith("/bank/app/api/"):
                raise ApiError(401, "not_logged_in", "Log in to the bank app first.")
            return redirect(url_for("bank.app_login", next=request.full_path.rstrip("?")))
        g.customer = customer
        return view(*args, **kwargs)
    return wrapped


def sign_in_customer(customer):
    """A fresh bank session for this customer: nothing from before the login survives it."""
    begin_sign_in(session, "bank", f"customer:{customer.id}")
    session["customer_id"] = customer.id


@bp.app_context_processor
def bank_template_helpers():
    return {"decline_reason_text": DECLINE_REASON_TEXT}


@bp.route("/app/static/<path:filename>")
def app_static(filename):
    """The bank app's static side lives in pwa/ (CSS, JS modules, icons)."""
    return send_from_directory(PWA_DIR, filename, max_age=0)


@bp.route("/app/login", methods=["GET", "POST"])
@rate_limited("RATELIMIT_SIGNIN", per="account+address", account_field="username")
@rate_limited("RATELIMIT_SIGNIN_ACCOUNT", per="account", account_field="username")
@rate_limited("RATELIMIT_SIGNIN_ADDRESS", per="address", failures_only=True)
def app_login():
    form = LoginForm()
    if form.validate_on_submit():
        customer = services.authenticate_customer(form.username.data, form.password.data)
        if customer:
            sign_in_customer(customer)
            return redirect(_safe_next(request.args.get("next")))
        flash("That username and password do not match an account.", "error")
    return render_template("bank/login.html", form=form)


@bp.post("/app/logout")
def app_logout():
    if ConfirmForm().validate_on_submit():
        end_sign_in(session)
        flash("You are logged out.", "info")
    return redirect(url_for("bank.app_login"))


@bp.route("/app/signup", methods=["GET", "POST"])
@rate_limited("RATELIMIT_SIGNUP")
def app_signup():
    form = SignupForm()
    if form.validate_on_submit():
        try:
            customer = services.create_customer(form.username.data, form.password.data, form.pin.data,
                                                current_app.config["DEMO_STARTING_BALANCE_CENTS"],
                                                full_name=form.full_name.data)
        except services.InvalidField as exc:
            getattr(form, exc.field, form.username).errors.append(exc.message)
        else:
            sign_in_customer(customer)
            flash(f"Welcome to Baobab Bank! We deposited {current_app.jinja_env.filters['money'](current_app.config['DEMO_STARTING_BALANCE_CENTS'])} to start you off.", "info")
            return redirect(url_for("bank.app_home"))
    return render_template("bank/signup.html", form=form)


@bp.get("/app/")
@customer_required
def app_home():
    customer = g.customer
    return render_template("bank/home.html", customer=customer, card=services.customer_card(customer),
                           balance=ledger.balance_of(customer.account),
                           pending=services.pending_requests_for(customer),
                           recent=services.recent_requests_for(customer), logout_form=ConfirmForm())


@bp.get("/app/account")
@customer_required
def app_account():
    customer = g.customer
    return render_template("bank/account.html", customer=customer, card=services.customer_card(customer),
                           balance=ledger.balance_of(customer.account), entries=ledger.entries_of(customer.account))


@bp.get("/app/approvals/<request_id>")
@customer_required
def app_approval(request_id):
    try:
        payment = services.payment_request_for_customer(g.customer, request_id)
    except services.NotFound:
        flash("That payment request does not exist, or is not yours.", "error")
        return redirect(url_for("bank.app_home"))
    this_device = devices.device_for_token(g.customer, request.cookies.get(devices.DEVICE_COOKIE))
    return render_template("bank/approval.html", payment=payment, form=ApproveForm(), decline_form=ConfirmForm(),
                           balance=ledger.balance_of(g.customer.account), this_device=this_device,
                           has_passkey=bool(passkeys.passkeys_of(g.customer)))


@bp.post("/app/approvals/<request_id>/approve")
@customer_required
@rate_limited("RATELIMIT_PIN", per="signed-in")
def app_approve(request_id):
    form = ApproveForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(errors[0], "error")
        return redirect(url_for("bank.app_approval", request_id=request_id))
    # What the browser sent, every factor of it; the service checks them all (the device cookie too).
    return _decide(request_id, lambda: services.approve_payment_request(
        g.customer, request_id, form.pin.data, request.cookies.get(devices.DEVICE_COOKIE)))


@bp.post("/app/approvals/<request_id>/decline")
@customer_required
def app_decline(request_id):
    if not ConfirmForm().validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("bank.app_approval", request_id=request_id))
    return _decide(request_id, lambda: services.decline_payment_request(g.customer, request_id))


def _decide(request_id, decision):
    """Run a decision service and tell the outcome in a flash message (the live screens hear it from the
    after-commit dispatcher, whatever the outcome: an approval, a decline, a lock that declined it)."""
    try:  # the phone's tap belongs to the merchant's journey
        tracing.continue_trace(services.payment_request_for_customer(g.customer, request_id).trace_id)
    except services.NotFound:
        pass
    try:
        decision()
    except (devices.NotARegisteredDevice, services.BankError) as exc:
        flash(getattr(exc, "message", str(exc)), "error")
    return redirect(url_for("bank.app_approval", request_id=request_id))


@bp.get("/app/api/approvals")
@customer_required
def app_api_approvals():
    """Pending approvals as JSON: the live list refreshes from here after each socket event."""
    return jsonify(approvals=[_approval_json(p) for p in services.pending_requests_for(g.customer)],
                   balance=ledger.balance_of(g.customer.account))


@bp.get("/app/api/approvals/<request_id>")
@customer_required
def app_api_approval(request_id):
    try:
        return jsonify(_approval_json(services.payment_request_for_customer(g.customer, request_id)))
    except services.NotFound as exc:
        raise ApiError(404, "not_found", exc.message) from None


def _approval_json(payment):
    return {"id": payment.id, "status": payment.effective_status, "amount": payment.amount,
            "amount_text": current_app.jinja_env.filters["money"](payment.amount),
            "merchant": payment.merchant.name, "description": payment.description,
            "binding_code": payment.binding_code, "expires_at": payment.to_api()["expires_at"],
            "decline_reason": payment.decline_reason,
            "url": url_for("bank.app_approval", request_id=payment.id)}


# --- fingerprint or face (WebAuthn) ---------------------------------------------------

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


@bp.post("/app/api/passkeys/options")
@customer_required
@rate_limited("RATELIMIT_PIN", per="signed-in")
def app_api_passkey_registration_options():
    """Setting up a fingerprint needs the PIN first: a stolen password must not be able to add one."""
    try:
        options, challenge = passkeys.registration_options(g.customer, current_app.config["PUBLIC_URL"],
                                                           pin=text_field(json_body(), "pin"))
    except services.BankError as exc:
        raise ApiError.from_domain(exc) from None  # 422 no PIN typed, 403 wrong or locked (one answer)
    session["webauthn_registration"] = bytes_to_base64url(challenge)
    return current_app.response_class(options, mimetype="application/json")


@bp.post("/app/api/passkeys")
@customer_required
def app_api_register_passkey():
    body = _credential_from_body()
    challenge = session.pop("webauthn_registration", None)
    if not challenge:
        raise ApiError(409, "no_challenge", "Start the fingerprint setup again.")
    try:
        passkey = passkeys.register_passkey(g.customer, body["credential"], base64url_to_bytes(challenge),
                                            current_app.config["PUBLIC_URL"], body.get("name"))
    except passkeys.PasskeyError as exc:
        raise ApiError(422, "passkey_refused", str(exc)) from None
    return jsonify(id=passkey.id, name=passkey.name), 201


@bp.post("/app/api/approvals/<request_id>/passkey-options")
@customer_required
def app_api_approval_passkey_options(request_id):
    try:
        services.payment_request_for_customer(g.customer, request_id)
        options, challenge = passkeys.authentication_options(g.customer, current_app.config["PUBLIC_URL"])
    except services.NotFound as exc:
        raise ApiError(404, "not_found", exc.message) from None
    except passkeys.PasskeyError as exc:
        raise ApiError(409, "no_passkey", str(exc)) from None
    session["webauthn_approval"] = {"request_id": request_id, "challenge": bytes_to_base64url(challenge)}
    return current_app.response_class(options, mimetype="application/json")


@bp.post("/app/api/approvals/<request_id>/approve-with-passkey")
@customer_required
def app_api_approve_with_passkey(request_id):
    """Possession and inherence in one signed answer from the phone's authenticator."""
    body = _credential_from_body()
    try:
        tracing.continue_trace(services.payment_request_for_customer(g.customer, request_id).trace_id)
    except services.NotFound:
        pass
    pending = session.pop("webauthn_approval", None)
    if not pending or pending.get("request_id") != request_id:
        raise ApiError(409, "no_challenge", "Tap Approve with fingerprint again.")
    try:  # the service verifies the assertion itself: no approval "with a passkey" without one
        payment = services.approve_payment_request_with_passkey(
            g.customer, request_id, body["credential"], base64url_to_bytes(pending["challenge"]),
            current_app.config["PUBLIC_URL"])
    except passkeys.PasskeyError as exc:
        raise ApiError(403, "passkey_refused", str(exc)) from None
    except services.BankError as exc:
        raise ApiError.from_domain(exc) from None
    return jsonify(_approval_json(payment))
