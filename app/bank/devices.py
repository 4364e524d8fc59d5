"""Devices: the customer's phones and browsers, the possession factor.

Registering a device needs the PIN (knowledge), and gives the browser a
secret device token in an HttpOnly cookie; only its hash is stored. From then
on, that browser is "something you have": approving with a PIN works only from
a registered device. A push subscription, if notifications are on, hangs off
the same device.
"""
import hashlib
import secrets
from urllib.parse import urlparse

from sqlalchemy import select

from ..extensions import db
from .models import Device

DEVICE_COOKIE = "bank_device"


class DeviceError(ValueError):
    pass


class NotARegisteredDevice(DeviceError):
    """An approval from a browser that is not one of the customer's devices."""


def hash_device_token(token):
    return hashlib.sha256((token or "").encode()).hexdigest()


def _checked_subscription(subscription):
    if not isinstance(subscription, dict):
        raise DeviceError("subscription must be the browser's PushSubscription as JSON.")
    endpoint = subscription.get("endpoint")
    keys = subscription.get("keys") if isinstance(subscription.get("keys"), dict) else {}
    parsed = urlparse(endpoint if isinstance(endpoint, str) else "")
    if parsed.scheme not in ("https", "http") or not parsed.netloc or len(endpoint) > 1000:
        raise DeviceError("subscription.endpoint must be the push service URL the browser gave.")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not (isinstance(p256dh, str) and 80 <= len(p256dh) <= 200 and isinstance(auth, str) and 16 <= len(auth) <= 100):
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


def register_device(customer, token, subscription=None, name=None, pin_checked=False):
    """Register this browser (or add push to it). Returns (device, new_token or None). Commits.

    A browser that already holds one of the customer's device tokens needs nothing more;
    a new one needs `pin_checked` (the caller verified the PIN) and gets a fresh token.
    """
    push = _checked_subscription(subscription) if subscription is not None else None
    device = device_for_token(customer, token)
    new_token = None
    if device is None:
        if not pin_checked:
            raise DeviceError("Enter your PIN to register this device.")
        existing = db.session.scalar(select(Device).where(Device.endpoint == push[0])) if push else None
        device = existing or Device()
        if existing is None:
            db.session.add(device)
        new_token = secrets.token_urlsafe(32)
        device.token_hash = hash_device_token(new_token)
    if push:
        device.endpoint, device.p256dh, device.auth = push
    device.customer_id = customer.id
    device.name = (name or device.name or "This device").strip()[:100] or "This device"
    db.session.commit()
    return device, new_token


def replace_subscription(old_endpoint, subscription):
    """The browser rotated its subscription (pushsubscriptionchange): move the device over. Commits."""
    device = db.session.scalar(select(Device).where(Device.endpoint == (old_endpoint or "")))
    if device is None:
        raise DeviceError("No device has that old subscription.")
    device.endpoint, device.p256dh, device.auth = _checked_subscription(subscription)
    db.session.commit()
    return device


def devices_of(customer):
    return db.session.scalars(select(Device).where(Device.customer_id == customer.id)
                              .order_by(Device.created_at)).all()


def remove_device(customer, device_id):
    device = db.session.get(Device, device_id)
    if device is None or device.customer_id != customer.id:
        raise DeviceError("No such device of yours.")
    db.session.delete(device)
    db.session.commit()
