"""The merchant portal's views: payments received and every webhook attempt.

A merchant signs in with its API credentials, as with a real acquirer's portal.
"""
from flask import flash, redirect, render_template, session, url_for
from sqlalchemy import select

from ...common.ratelimit import sign_in_limited
from ...common.signins import begin_sign_in, end_sign_in
from ...common.forms import ConfirmForm
from ...extensions import db
from .. import ledger
from ..api.oauth2 import query_client
from ..models import Merchant, PaymentRequest, WebhookEvent
from . import bp
from .forms import MerchantLoginForm


@bp.route("/login", methods=["GET", "POST"])
@sign_in_limited(account_field="client_id")
def login():
    form = MerchantLoginForm()
    if form.validate_on_submit():
        merchant = query_client(form.client_id.data.strip())
        if merchant and merchant.check_client_secret(form.client_secret.data):
            # The portal's own cookie (merchant_session): never the customer's bank session.
            begin_sign_in(session, "merchant", f"merchant:{merchant.id}")
            session["merchant_id"] = merchant.id
            return redirect(url_for("bank.portal.dashboard"))
        flash("Those credentials do not match a merchant.", "error")
    return render_template("bank/merchant_login.html", form=form)


@bp.post("/logout")
def logout():
    if ConfirmForm().validate_on_submit():
        end_sign_in(session)
    return redirect(url_for("bank.portal.login"))


@bp.get("/")
def dashboard():
    merchant = db.session.get(Merchant, session.get("merchant_id") or 0)
    if merchant is None:
        return redirect(url_for("bank.portal.login"))
    payments = db.session.scalars(select(PaymentRequest).where(PaymentRequest.merchant_id == merchant.id)
                                  .order_by(PaymentRequest.created_at.desc()).limit(30)).all()
    events = db.session.scalars(select(WebhookEvent).where(WebhookEvent.merchant_id == merchant.id)
                                .order_by(WebhookEvent.created_at.desc()).limit(30)).all()
    return render_template("bank/merchant.html", merchant=merchant, payments=payments, events=events,
                           balance=ledger.balance_of(merchant.account), logout_form=ConfirmForm())
