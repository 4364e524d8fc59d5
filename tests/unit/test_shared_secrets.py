"""Every process of a deployment signs with the same keys: each secret can come from the environment or
a file, and one made into instance/ is made once, even by processes starting together.

Seen before: three processes, each with its own instance/, signed pushes with three VAPID keys and
published three PayLab ID signing keys (6 of 9 sign-ins failed with InvalidKeyIdError); processes
cold-starting on one empty instance/ could write the VAPID key over each other.
"""
import base64
import threading

import pytest
from joserfc.jwk import RSAKey
from py_vapid import Vapid

from app.bank.outbox.vapid import InvalidVapidKey, application_server_key, load_vapid
from app.idp.keys import InvalidSigningKey, load_signing_key, public_jwks
from config import SecretSettingError, _secret, login_provider_settings

from ..support import make_app


def _vapid_pem():
    vapid = Vapid()
    vapid.generate_keys()
    return vapid.private_pem().decode()


def _rsa_pem():
    return RSAKey.generate_key(2048, private=True).as_pem(private=True).decode()


def _published_keys(app):
    """What the outside world sees of a process's keys: the push key phones subscribe with, and the JWKS."""
    return (application_server_key(app.extensions["bank_vapid"]),
            public_jwks(app.extensions["idp_signing_key"])["keys"][0]["kid"])


def test_two_processes_with_the_keys_from_the_environment_publish_the_same_keys(tmp_path):
    shared = {"VAPID_PRIVATE_KEY": _vapid_pem(), "IDP_SIGNING_KEY": _rsa_pem(), "SECRET_KEY": "s" * 64}
    first = make_app(tmp_path / "host-1", **shared)
    second = make_app(tmp_path / "host-2", **shared)
    assert _published_keys(first) == _published_keys(second)
    assert not (tmp_path / "host-1" / "vapid_private.pem").exists()  # nothing generated beside the given key
    # Without them, each instance/ makes its own: what the test above rules out.
    assert _published_keys(make_app(tmp_path / "host-3")) != _published_keys(make_app(tmp_path / "host-4"))


def test_a_vapid_key_as_web_push_tools_print_it_is_accepted(tmp_path):
    vapid = Vapid()
    vapid.generate_keys()
    raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    key = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert application_server_key(load_vapid({"VAPID_PRIVATE_KEY": key}, tmp_path)) == \
        application_server_key(vapid)


def _pem(private_key):
    from cryptography.hazmat.primitives import serialization
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()


@pytest.mark.parametrize("key", [
    "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    "_" * 43,  # the raw form, but no private number on the curve
    pytest.param("P-384", id="a P-384 key"), pytest.param("RSA", id="an RSA key")])
def test_a_vapid_key_that_is_not_one_is_named_at_start_up(tmp_path, key):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if key == "P-384":
        key = _pem(ec.generate_private_key(ec.SECP384R1()))
    elif key == "RSA":
        key = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(InvalidVapidKey, match="VAPID_PRIVATE_KEY"):
        load_vapid({"VAPID_PRIVATE_KEY": key}, tmp_path)


def test_a_signing_key_that_is_public_or_not_a_key_is_named_at_start_up(tmp_path):
    public = RSAKey.generate_key(2048, private=True).as_pem(private=False).decode()
    with pytest.raises(InvalidSigningKey, match="public key"):
        load_signing_key({"IDP_SIGNING_KEY": public}, tmp_path)
    with pytest.raises(InvalidSigningKey, match="IDP_SIGNING_KEY"):
        load_signing_key({"IDP_SIGNING_KEY": "not a key"}, tmp_path)
    from cryptography.hazmat.primitives.asymmetric import rsa
    weak = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(InvalidSigningKey, match="1024 bits"):
        load_signing_key({"IDP_SIGNING_KEY": weak}, tmp_path)


def test_processes_starting_together_on_an_empty_instance_make_one_vapid_key(tmp_path):
    """Eight starts at once on one empty instance/: one key, read whole by all of them."""
    starts, keys, errors = threading.Barrier(8), [], []

    def start():
        starts.wait()
        try:
            keys.append(application_server_key(load_vapid({}, tmp_path)))
        except Exception as exc:  # a half-written file read by another start, as it was
            errors.append(exc)
    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(keys) == 8 and len(set(keys)) == 1
    assert (tmp_path / "vapid_private.pem").stat().st_mode & 0o777 == 0o600


def test_a_secret_comes_from_its_variable_or_from_the_file_it_names(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("from-a-file\n")
    assert _secret("SECRET_KEY", {"SECRET_KEY": "from-the-environment"}) == "from-the-environment"
    assert _secret("SECRET_KEY", {"SECRET_KEY_FILE": str(secret_file)}) == "from-a-file"
    assert _secret("SECRET_KEY", {}) is None


@pytest.mark.parametrize("environ, says", [
    ({"SECRET_KEY": "x", "SECRET_KEY_FILE": "/etc/hostname"}, "not both"),
    ({"SECRET_KEY_FILE": "/nonexistent/secret"}, "cannot read it"),
])
def test_a_secret_setting_that_cannot_be_used_says_which_and_why(environ, says):
    with pytest.raises(SecretSettingError, match=says) as caught:
        _secret("SECRET_KEY", environ)
    assert "SECRET_KEY" in str(caught.value)


def test_an_empty_or_binary_secret_file_is_refused(tmp_path):
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SecretSettingError, match="is empty"):
        _secret("BANK_PIN_PEPPER", {"BANK_PIN_PEPPER_FILE": str(tmp_path / "empty")})
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SecretSettingError, match="not text"):
        _secret("BANK_PIN_PEPPER", {"BANK_PIN_PEPPER_FILE": str(tmp_path / "binary")})


def test_a_login_providers_client_secret_may_come_from_a_file(tmp_path):
    (tmp_path / "google").write_text("google-secret")
    settings = login_provider_settings({"OIDC_GOOGLE_CLIENT_ID": "id",
                                        "OIDC_GOOGLE_CLIENT_SECRET_FILE": str(tmp_path / "google")})
    assert settings == {"OIDC_GOOGLE_CLIENT_ID": "id", "OIDC_GOOGLE_CLIENT_SECRET": "google-secret"}
