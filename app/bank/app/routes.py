"""The bank app's pages: log in, see and decide pending approvals, the account, devices and diagnostics.

Made for a phone screen first. Views are thin; the services do the work and check every factor.
"""
from flask import current_app, flash, g, redirect, render_template, request, session, url_for

from ...common import tracing
from ...common.forms import ConfirmForm
from ...common.qr import qr_svg
from ...common.ratelimit import rate_limited, sign_in_limited
from ...common.signins import end_sign_in
from ...common.tracing import walkthrough_step
from .. import cards, devices, funds, ledger, passkeys, services
from ..errors import BankError, InvalidField, NotFound
from ..notify import bank_app_url
from . import bp
from .auth import continue_payments_journey, customer_required, safe_next, sign_in_customer
from .forms import AddFundsForm, ApproveForm, LoginForm, SignupForm

DECLINE_REASON_TEXT = {"customer_declined": "You declined it.", "insufficient_funds": "Not enough money in the account.",
                       "card_blocked": "The card is blocked."}


@bp.app_context_processor
def bank_template_helpers():
    return {"decline_reason_text": DECLINE_REASON_TEXT}


@bp.route("/login", methods=["GET", "POST"])
@sign_in_limited(account_field="username")
def login():
    form = LoginForm()
    if form.validate_on_submit():
        customer = services.authenticate_customer(form.username.data, form.password.data)
        if customer:
            sign_in_customer(customer)
            return redirect(safe_next(request.args.get("next")))
        flash("That username and password do not match an account.", "error")
    return render_template("bank/login.html", form=form)


@bp.post("/logout")
def logout():
    if ConfirmForm().validate_on_submit():
        end_sign_in(session)
        flash("You are logged out.", "info")
    return redirect(url_for("bank.app.login"))


@bp.route("/signup", methods=["GET", "POST"])
@rate_limited("RATELIMIT_SIGNUP")
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        try:
            customer = services.create_customer(form.username.data, form.password.data, form.pin.data,
                                                current_app.config["DEMO_STARTING_BALANCE_CENTS"],
                                                full_name=form.full_name.data)
        except InvalidField as exc:
            getattr(form, exc.field, form.username).errors.append(exc.message)
        else:
            sign_in_customer(customer)
            flash(f"Welcome to Baobab Bank! We deposited {current_app.jinja_env.filters['money'](current_app.config['DEMO_STARTING_BALANCE_CENTS'])} to start you off.", "info")
            return redirect(url_for("bank.app.home"))
    return render_template("bank/signup.html", form=form)


@bp.get("/")
@customer_required
def home():
    customer = g.customer
    return render_template("bank/home.html", customer=customer, card=cards.customer_card(customer),
                           balance=ledger.balance_of(customer.account),
                           pending=services.pending_requests_for(customer),
                           recent=services.recent_requests_for(customer), logout_form=ConfirmForm())


@bp.get("/account")
@customer_required
def account():
    return _account_page(AddFundsForm())


def _account_page(add_funds_form, status=200):
    customer, daily_limit = g.customer, current_app.config["BANK_ADD_FUNDS_DAILY_LIMIT_CENTS"]
    return render_template("bank/account.html", customer=customer, card=cards.customer_card(customer),
                           balance=ledger.balance_of(customer.account), entries=ledger.entries_of(customer.account),
                           form=add_funds_form, daily_limit=daily_limit,
                           allowance_left=funds.allowance_left(customer, daily_limit)), status


@bp.post("/account/add-funds")
@customer_required
@rate_limited("RATELIMIT_ADD_FUNDS", per="signed-in")
def add_funds():
    """Add funds: demo money from the bank, within the daily limit it reads from the ledger."""
    form = AddFundsForm()
    if form.validate_on_submit():
        try:
            funds.add_funds(g.customer, form.amount_cents, current_app.config["BANK_ADD_FUNDS_DAILY_LIMIT_CENTS"])
        except InvalidField as exc:
            form.amount.errors.append(exc.message)
        else:
            flash(f"Added {current_app.jinja_env.filters['money'](form.amount_cents)} to your account.", "info")
            return redirect(url_for("bank.app.account"))
    return _account_page(form, 422)


@bp.get("/approvals/<public_id:request_id>")
@customer_required
def approval(request_id):
    try:
        payment = services.payment_request_for_customer(g.customer, request_id)
    except NotFound:
        flash("That payment request does not exist, or is not yours.", "error")
        return redirect(url_for("bank.app.home"))
    this_device = devices.device_for_token(g.customer, request.cookies.get(devices.DEVICE_COOKIE))
    return render_template("bank/approval.html", payment=payment, form=ApproveForm(), decline_form=ConfirmForm(),
                           balance=ledger.balance_of(g.customer.account), this_device=this_device,
                           has_passkey=bool(passkeys.passkeys_of(g.customer)))


@bp.post("/approvals/<public_id:request_id>/approve")
@walkthrough_step("approval", factors=["knowledge:pin", "possession:device"], caller="phone")
@customer_required
@rate_limited("RATELIMIT_PIN", per="signed-in")
def approve(request_id):
    form = ApproveForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(errors[0], "error")
        tracing.refuse_step(next(iter(form.errors.values()))[0], "knowledge:pin" if form.pin.errors else None)
        return redirect(url_for("bank.app.approval", request_id=request_id))
    # What the browser sent, every factor of it; the service checks them all (the device cookie too).
    return _decide(request_id, lambda: services.approve_payment_request(
        g.customer, request_id, form.pin.data, request.cookies.get(devices.DEVICE_COOKIE)))


@bp.post("/approvals/<public_id:request_id>/decline")
@walkthrough_step("decline", caller="phone")
@customer_required
def decline(request_id):
    if not ConfirmForm().validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("bank.app.approval", request_id=request_id))
    return _decide(request_id, lambda: services.decline_payment_request(g.customer, request_id))


def _decide(request_id, decision):
    """Run a decision service and tell the outcome in a flash message (the live screens hear it from the
    after-commit dispatcher, whatever the outcome: an approval, a decline, a lock that declined it)."""
    continue_payments_journey(request_id)
    try:
        decision()
    except BankError as exc:
        flash(exc.message, "error")
        tracing.refuse_step(exc.message, exc.factor)
    return redirect(url_for("bank.app.approval", request_id=request_id))


@bp.get("/devices", endpoint="devices")
@customer_required
def devices_page():
    this_device = devices.device_for_token(g.customer, request.cookies.get(devices.DEVICE_COOKIE))
    return render_template("bank/devices.html", devices=devices.devices_of(g.customer), this_device=this_device,
                           passkeys=passkeys.passkeys_of(g.customer),
                           app_qr=qr_svg(bank_app_url() + "/"), app_url=bank_app_url() + "/")


@bp.get("/diagnostics")
@customer_required
def diagnostics():
    return render_template("bank/diagnostics.html", public_url=current_app.config["PUBLIC_URL"])
