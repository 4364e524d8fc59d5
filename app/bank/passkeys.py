"""Fingerprint or face approval: WebAuthn passkeys with py_webauthn.

A platform authenticator with user verification proves two things at once:
the phone is in your hand (possession: the private key never leaves it) and
it is you (inherence: the fingerprint or face unlocked it). The relying party
id is PUBLIC_URL's host; the bank refuses any assertion without the UV flag.
"""
from urllib.parse import urlparse

import webauthn
from sqlalchemy import select
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.structs import (AuthenticatorAttachment, AuthenticatorSelectionCriteria,
                                      PublicKeyCredentialDescriptor, ResidentKeyRequirement,
                                      UserVerificationRequirement)

from ..common.clock import utcnow
from ..extensions import db
from .cards import check_card_pin, customer_card
from .errors import BankError
from .models import Passkey


class PasskeyError(BankError):
    """A fingerprint (WebAuthn) answer the bank does not accept: a refused approval is a 403."""
    status, code, factor = 403, "passkey_refused", "possession:passkey"

    def __init__(self, message, factor=None):
        super().__init__(message)
        self.factor = factor or self.factor


def relying_party(public_url):
    """(rp_id, origin): the id is the host alone, the origin the full scheme://host[:port]."""
    parsed = urlparse(public_url)
    return parsed.hostname, f"{parsed.scheme}://{parsed.netloc}"


def passkeys_of(customer):
    return db.session.scalars(select(Passkey).where(Passkey.customer_id == customer.id)
                              .order_by(Passkey.created_at)).all()


def registration_options(customer, public_url, pin):
    """Options for navigator.credentials.create(); returns (options JSON text, challenge bytes).

    A new fingerprint is a new way to approve payments, so it costs the PIN, through the
    card's one PIN check and its lockout (a stolen password alone must not add one).
    """
    check_card_pin(customer_card(customer), pin)
    db.session.commit()  # the right PIN's reset of the card's count (nothing else is written here)
    rp_id, _ = relying_party(public_url)
    options = webauthn.generate_registration_options(
        rp_id=rp_id, rp_name="Baobab Bank", user_name=customer.username, user_id=f"customer-{customer.id}".encode(),
        user_display_name=customer.full_name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            authenticator_attachment=AuthenticatorAttachment.PLATFORM,
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(p.credential_id))
                             for p in passkeys_of(customer)])
    return webauthn.options_to_json(options), options.challenge


def register_passkey(customer, credential, challenge, public_url, name=None):
    """Verify the authenticator's answer (user verification required) and keep its public key. Commits."""
    rp_id, origin = relying_party(public_url)
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
            require_user_verification=True)
    except Exception as exc:  # py_webauthn raises several types; each means "not a valid registration"
        raise PasskeyError(f"The fingerprint setup did not verify: {exc}") from None
    passkey = Passkey(customer_id=customer.id, credential_id=bytes_to_base64url(verified.credential_id),
                      public_key=verified.credential_public_key, sign_count=verified.sign_count,
                      name=(name or "Fingerprint or face")[:100])
    db.session.add(passkey)
    db.session.commit()
    return passkey


def authentication_options(customer, public_url):
    """Options for navigator.credentials.get(), limited to this customer's passkeys, UV required."""
    keys = passkeys_of(customer)
    if not keys:
        raise PasskeyError("Set up a fingerprint or face first (Devices).")
    rp_id, _ = relying_party(public_url)
    options = webauthn.generate_authentication_options(
        rp_id=rp_id, user_verification=UserVerificationRequirement.REQUIRED,
        allow_credentials=[PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(p.credential_id))
                           for p in keys])
    return webauthn.options_to_json(options), options.challenge


def verify_passkey(customer, credential, challenge, public_url):
    """Check an assertion against the customer's stored key; refuse it without user verification. Commits."""
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    passkey = db.session.scalar(select(Passkey).where(Passkey.credential_id == (credential_id or ""),
                                                      Passkey.customer_id == customer.id))
    if passkey is None:
        raise PasskeyError("That passkey is not one of yours.")
    rp_id, origin = relying_party(public_url)
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=passkey.public_key, credential_current_sign_count=passkey.sign_count,
            require_user_verification=True)
    except Exception as exc:
        unverified = "verif" in str(exc).lower()  # the authenticator signed without asking for the finger or face
        raise PasskeyError(f"The fingerprint check failed: {exc}",
                           factor="inherence:fingerprint" if unverified else None) from None
    passkey.sign_count, passkey.last_used_at = verified.new_sign_count, utcnow()
    db.session.commit()
    return passkey
