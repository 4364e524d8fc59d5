"""The id_token signing key: RSA, generated into instance/ on the first run and published in the JWKS."""
from joserfc.jwk import RSAKey

from ..common.instance import read_or_create_secret


def _new_private_pem():
    return RSAKey.generate_key(2048, private=True).as_pem(private=True).decode()


def load_signing_key(instance_path):
    """The provider's private key, with `kid` (its thumbprint), `use` and `alg` set."""
    pem = read_or_create_secret(instance_path, "idp-signing-key.pem", _new_private_pem)
    key = RSAKey.import_key(pem)
    return RSAKey.import_key(pem, parameters={"kid": key.thumbprint(), "use": "sig", "alg": "RS256"})


def public_jwks(key):
    return {"keys": [key.as_dict(private=False)]}
