"""Devices: the customer's phones and browsers, the possession factor.

Registering a device needs the PIN (knowledge), and gives the browser a
secret device token in an HttpOnly cookie; only its hash is stored. From then
on, that browser is "something you have": approving with a PIN works only from
a registered device. A push subscription, if notifications are on, hangs off
the same device.
"""
import re
import secrets

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..common.clock import utcnow
from ..common.security import token_hash
from ..extensions import db
from .cards import check_card_pin, customer_card
from .errors import BankError, InvalidField, NotFound
from .models import Device
from .outbound import DEFAULT_PUSH_SERVICE_HOSTS, OutboundUrlRefused, check_push_endpoint

DEVICE_COOKIE = "bank_device"


class DeviceError(InvalidField):
    """A subscription or device the bank cannot take (a 422 on the API)."""


class NotARegisteredDevice(BankError):
    """An approval (or a resubscription) from a browser that is not one of the customer's devices."""
    status, code, factor = 403, "not_a_registered_device", "possession:device"


hash_device_token = token_hash  # only the hash of a device token is stored
TAKEN = "This push subscription belongs to another device. Turn notifications off and on."


BASE64URL = re.compile(r"[A-Za-z0-9_\-]+=*")  # as browsers encode keys: no stray bytes reach the database


def _checked_subscription(subscription):
    """The browser's PushSubscription, checked: (canonical endpoint, p256dh, auth).

    The endpoint must be an https URL of a real push service (`PUSH_SERVICE_HOSTS`):
    the bank POSTs to it, so any other address would let a customer aim the bank
    at its own network (SSRF).
    """
    if not isinstance(subscription, dict):
        raise DeviceError("subscription must be the browser's PushSubscription as JSON.")
    keys = subscription.get("keys") if isinstance(subscription.get("keys"), dict) else {}
    try:
        endpoint = check_push_endpoint(subscription.get("endpoint"),
                                       current_app.config.get("PUSH_SERVICE_HOSTS", DEFAULT_PUSH_SERVICE_HOSTS))
    except OutboundUrlRefused as exc:
        raise DeviceError(f"subscription.endpoint must be the push service URL the browser gave: {exc}") from None
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not (isinstance(p256dh, str) and 80 <= len(p256dh) <= 200 and isinstance(auth, str) and 16 <= len(auth) <= 100
            and BASE64URL.fullmatch(p256dh) and BASE64URL.fullmatch(auth)):
        raise DeviceError("subscription.keys must hold the browser's p256dh and auth keys.")
    return endpoint, p256dh, auth


def device_for_token(customer, token):
    """The customer's device holding this token, or None."""
    if not token:
        return None
    device = db.session.scalar(select(Device).where(Device.token_hash == hash_device_token(token)))
    return device if device is not None and device.customer_id == customer.id else None


def require_registered_device(customer, token):
    device = device_for_token(customer, token)
    if device is None:
        raise NotARegisteredDevice(
            "This browser is not one of your registered devices, so it cannot approve payments: a stolen "
            "password alone must not be enough. Approve on your phone, or register this browser under "
            "Devices (it asks for your PIN).")
    return device


def register_device(customer, token, subscription=None, name=None, pin=None):
    """Register this browser (or add push to it). Returns (device, new_token or None). Commits.

    A browser that already holds one of the customer's device tokens needs nothing more;
    a new one must pass the PIN check here (knowledge, under the card's lockout) and
    gets a fresh token. The check lives here, not in the caller, so no caller can skip it.
    """
    push = _checked_subscription(subscription) if subscription is not None else None
    device = device_for_token(customer, token)
    new_token = None
    if device is None:
        check_card_pin(customer_card(customer), pin)
        existing = db.session.scalar(select(Device).where(Device.endpoint == push[0])) if push else None
        if existing is not None and existing.customer_id != customer.id:  # never take another's device over
            raise DeviceError(TAKEN)
        device = existing or Device(customer_id=customer.id)
        if existing is None:
            db.session.add(device)
        new_token = secrets.token_urlsafe(32)
        device.token_hash = hash_device_token(new_token)
    device.customer_id = customer.id
    device.name = _device_name(name, device.name)
    _attach_and_commit(device, push)
    return device, new_token


def _attach_and_commit(device, push):
    """Give `device` the checked subscription `push` (if any) and commit; one subscription, one device.

    Checked first for a clear answer, and again by the unique index when two
    registrations race for the same subscription.
    """
    if push:
        if db.session.scalar(select(Device.id).where(Device.endpoint == push[0], Device.id != device.id)):
            raise DeviceError(TAKEN)
        device.endpoint, device.p256dh, device.auth = push
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise DeviceError(TAKEN) from None


def _device_name(name, current):
    text = name.strip()[:100] if isinstance(name, str) else ""
    return "".join(ch for ch in text if ch.isprintable()) or current or "This device"


def replace_subscription(token, subscription):
    """The browser rotated its subscription (pushsubscriptionchange): move the device over. Commits.

    The proof is the device token (the HttpOnly cookie that the service worker's own
    request carries), never the old endpoint URL: an endpoint is not a secret (it
    crosses the push service, and a walkthrough once showed it), so knowing one must
    not let anybody redirect that customer's payment pushes to their own browser.
    """
    device = db.session.scalar(select(Device).where(Device.token_hash == hash_device_token(token))) if token else None
    if device is None:
        raise NotARegisteredDevice("Only a registered device can move its own push subscription.")
    _attach_and_commit(device, _checked_subscription(subscription))
    return device


def keep_subscription(customer, token, subscription):
    """The bank app's check each time it opens: the browser's current push subscription for this device.

    iOS and some Android builds drop or rotate a subscription without telling anybody (no
    `pushsubscriptionchange`), and the bank's pushes then go nowhere. So the app sends what the
    browser holds now, and the bank takes it if it differs from its own. Only the device's own
    token (its HttpOnly cookie) may do that, as with `replace_subscription`; no PIN is asked, because
    the device is already registered. Returns (device, changed); commits only a change.
    """
    device = device_for_token(customer, token)
    if device is None:
        raise NotARegisteredDevice("This browser is not one of your devices, so the bank keeps no push "
                                   "subscription for it. Register it under Devices.")
    push = _checked_subscription(subscription)
    if (device.endpoint, device.p256dh, device.auth) == push:
        return device, False
    _attach_and_commit(device, push)
    return device, True


def note_push_receipt(customer, token):
    """The phone holding `token` (one of the customer's devices) says a push reached it: the instructor's
    diagnostics show when, beside what the push service answered. Commits; nothing for an unknown token."""
    device = device_for_token(customer, token)
    if device is not None:
        device.last_receipt_at = utcnow()
        db.session.commit()


def devices_of(customer):
    return db.session.scalars(select(Device).where(Device.customer_id == customer.id)
                              .order_by(Device.created_at)).all()


def remove_device(customer, device_id):
    device = db.session.get(Device, device_id)
    if device is None or device.customer_id != customer.id:
        raise NotFound("No such device of yours.")
    db.session.delete(device)
    db.session.commit()
