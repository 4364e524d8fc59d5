"""A platform authenticator in software, for the bench's passkey approvals.

A phone's fingerprint sensor and secure enclave, minus the phone: one ES256 key pair per
credential, 'none' attestation at registration, and assertions with the user-present and
user-verified flags set (the bank refuses any without UV). It answers exactly what the bank
app's JS passes to and takes from `navigator.credentials.create()` / `.get()` (pwa/js/passkey.js),
so the bank verifies it with py_webauthn as it verifies a real phone.
"""
import base64
import hashlib
import json
import secrets
from urllib.parse import urlparse

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_USER_PRESENT, FLAG_USER_VERIFIED, FLAG_ATTESTED_DATA = 0x01, 0x04, 0x40


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftwareAuthenticator:
    """One credential for one relying party, as a phone keeps it for the bank app's origin."""

    def __init__(self, origin):
        self.origin = origin.rstrip("/")
        self.rp_id = urlparse(self.origin).hostname
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(16)
        self.sign_count = 0

    def _authenticator_data(self, flags, attested=b""):
        return (hashlib.sha256(self.rp_id.encode()).digest() + bytes([flags])
                + self.sign_count.to_bytes(4, "big") + attested)

    def _client_data(self, kind, challenge):
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options):
        """navigator.credentials.create(): a new key, its public half in COSE form, 'none' attestation."""
        if options["rp"]["id"] != self.rp_id:
            raise ValueError(f"options are for {options['rp']['id']}, this authenticator is for {self.rp_id}")
        numbers = self.key.public_key().public_numbers()
        cose_key = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        attested = (bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
                    + cbor2.dumps(cose_key))
        flags = FLAG_USER_PRESENT | FLAG_USER_VERIFIED | FLAG_ATTESTED_DATA
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {},
                                   "authData": self._authenticator_data(flags, attested)})
        credential_id = b64url(self.credential_id)
        return {"id": credential_id, "rawId": credential_id, "type": "public-key",
                "response": {"clientDataJSON": b64url(self._client_data("webauthn.create", options["challenge"])),
                             "attestationObject": b64url(attestation), "transports": ["internal"]},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}

    def get(self, options):
        """navigator.credentials.get(): sign the challenge, the fingerprint having unlocked the key (UV)."""
        allowed = {c["id"] for c in options.get("allowCredentials") or []}
        credential_id = b64url(self.credential_id)
        if allowed and credential_id not in allowed:
            raise ValueError("the bank did not ask for this authenticator's credential")
        self.sign_count += 1
        authenticator_data = self._authenticator_data(FLAG_USER_PRESENT | FLAG_USER_VERIFIED)
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = self.key.sign(authenticator_data + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return {"id": credential_id, "rawId": credential_id, "type": "public-key",
                "response": {"authenticatorData": b64url(authenticator_data), "clientDataJSON": b64url(client_data),
                             "signature": b64url(signature)},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}
