"""Merchants: registration, their webhook endpoints, and what the portal and the CLI show of them.

A payment request may name only an endpoint registered here (as Stripe registers
endpoints per account): a merchant's API call never makes the bank call an
address of the caller's choosing.
"""
import secrets

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from ..common.security import GIVEN_CLIENT_ID, GIVEN_SECRET
from ..extensions import db
from . import ledger
from .errors import InvalidField
from .models import Merchant, MerchantWebhookEndpoint, isoformat
from .outbound import OutboundUrlRefused, check_webhook_url


class UnregisteredEndpoint(ValueError):
    """A URL that is not one of the merchant's registered webhook endpoints."""


def webhook_endpoints_of(merchant):
    """The merchant's registered endpoint URLs, oldest first."""
    return db.session.scalars(select(MerchantWebhookEndpoint.url).where(
        MerchantWebhookEndpoint.merchant_id == merchant.id).order_by(MerchantWebhookEndpoint.id)).all()


def register_webhook_endpoint(merchant, url):
    """Register `url` for the merchant's webhooks (again is a no-op). Flushes; the caller commits.

    Raises `OutboundUrlRefused` for a URL that is not an absolute http(s) URL.
    """
    check_webhook_url(url)
    if url not in webhook_endpoints_of(merchant):
        db.session.add(MerchantWebhookEndpoint(merchant_id=merchant.id, url=url))
        db.session.flush()
    return url


def registered_endpoint(merchant, url):
    """`url` if the merchant registered it; raise `UnregisteredEndpoint` otherwise.

    Compared as exact strings in Python, so no attacker-chosen text reaches SQL.
    """
    if isinstance(url, str) and url in webhook_endpoints_of(merchant):
        return url
    raise UnregisteredEndpoint(url)


def validate_callback_url(url):
    """A webhook URL fit to register: an absolute http(s) URL of at most 500 plain characters."""
    try:
        return check_webhook_url(url)
    except OutboundUrlRefused as exc:
        raise InvalidField(f"callback_url: {exc}", "callback_url") from None


def create_merchant(name, callback_url, client_id=None, client_secret=None, webhook_secret=None):
    """Register a merchant; returns (merchant, client_secret). The secret is shown once, stored hashed.

    `callback_url` becomes its default webhook endpoint, the first one registered:
    payment requests may name only registered endpoints. The credentials are made here unless the
    operator gives all three (a deployment whose hosts share them through their configuration).
    """
    if not (name or "").strip():
        raise InvalidField("The merchant needs a name.", "name")
    given = (client_id, client_secret, webhook_secret)
    if any(given):
        if not (client_id and GIVEN_CLIENT_ID.fullmatch(client_id) and client_secret
                and GIVEN_SECRET.fullmatch(client_secret) and webhook_secret
                and GIVEN_SECRET.fullmatch(webhook_secret.removeprefix("whsec_"))):
            raise InvalidField("Give the client id (4-64 of A-Z a-z 0-9 _ -), the client secret and the "
                               "webhook secret (24-128 of those each), or none of them.", "client_id")
    client_secret = client_secret or secrets.token_urlsafe(32)
    merchant = Merchant(name=name.strip(), client_id=client_id or "mch_" + secrets.token_hex(8),
                        client_secret_hash=generate_password_hash(client_secret),
                        webhook_secret=webhook_secret or "whsec_" + secrets.token_hex(24),
                        callback_url=validate_callback_url(callback_url),
                        account=ledger.open_account("merchant", f"{name.strip()} settlement"))
    db.session.add(merchant)
    db.session.flush()
    register_webhook_endpoint(merchant, merchant.callback_url)
    db.session.commit()
    return merchant, client_secret


def merchant_account_summary(merchant):
    return {"name": merchant.name, "client_id": merchant.client_id, "balance": ledger.balance_of(merchant.account),
            "created_at": isoformat(merchant.created_at)}
