"""The id_token signing key: RSA, generated into instance/ on the first run and published in the JWKS."""
from joserfc.jwk import RSAKey

from config import StartupError

from ..common.instance import read_or_create_secret


def _new_private_pem():
    return RSAKey.generate_key(2048, private=True).as_pem(private=True).decode()


class InvalidSigningKey(StartupError, ValueError):
    pass


def load_signing_key(config, instance_path):
    """The provider's private key (IDP_SIGNING_KEY, else generated once into instance/), with `kid` (its
    thumbprint), `use` and `alg` set. Processes with different keys would each publish their own: an
    id_token signed by one fails at a client that fetched another's JWKS."""
    pem = config.get("IDP_SIGNING_KEY") or read_or_create_secret(instance_path, "idp-signing-key.pem",
                                                                 _new_private_pem)
    try:
        key = RSAKey.import_key(pem)
    except Exception as exc:  # joserfc raises several kinds for a key it cannot read
        raise InvalidSigningKey(f"IDP_SIGNING_KEY is not an RSA private key in PEM ({exc})") from None
    if not key.is_private:
        raise InvalidSigningKey("IDP_SIGNING_KEY is a public key: PayLab ID needs the private key to sign.")
    if key.raw_value.key_size < 2048:
        raise InvalidSigningKey(f"IDP_SIGNING_KEY has {key.raw_value.key_size} bits: RS256 needs 2048 or more.")
    return RSAKey.import_key(pem, parameters={"kid": key.thumbprint(), "use": "sig", "alg": "RS256"})


def public_jwks(key):
    return {"keys": [key.as_dict(private=False)]}
