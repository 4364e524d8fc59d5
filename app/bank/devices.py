"""Devices: the customer's phones that may receive pushes (and, with issue 5, approve)."""
from urllib.parse import urlparse

from sqlalchemy import select

from ..extensions import db
from .models import Device


class DeviceError(ValueError):
    pass


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


def register_device(customer, subscription, name):
    """Add (or take over) the device with this subscription for `customer`. Commits."""
    endpoint, p256dh, auth = _checked_subscription(subscription)
    device = db.session.scalar(select(Device).where(Device.endpoint == endpoint))
    if device is None:
        device = Device(endpoint=endpoint)
        db.session.add(device)
    device.customer_id, device.p256dh, device.auth = customer.id, p256dh, auth
    device.name = (name or "This device").strip()[:100] or "This device"
    db.session.commit()
    return device


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
