"""PayLab ID's OpenID Connect provider, built from Authlib's server classes.

Authorization code only, PKCE with S256 required of every client, exact
redirect URIs, nonces honoured, codes short-lived and single-use, and an
RS256 id_token signed with the key in instance/.
"""
import hashlib
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import current_app
from sqlalchemy import select

from ..common.errors import ApiError
from ..extensions import db
from .keys import load_signing_key
from .models import AuthorizationCode, Client, Token, User

SCOPES_SUPPORTED = ["openid", "profile", "email"]
ID_TOKEN_LIFETIME_SECONDS = 3600


def issuer():
    return current_app.config["PUBLIC_URL"] + "/idp"


def hash_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


def query_client(client_id):
    return db.session.scalar(select(Client).where(Client.client_id == client_id))


def save_token(token, request):
    db.session.add(Token(client_id=request.client.client_id, user_id=request.user.id, token_type=token["token_type"],
                         access_token=hash_token(token["access_token"]), scope=token.get("scope", ""),
                         expires_in=token["expires_in"]))
    db.session.commit()


class S256Required(CodeChallenge):
    """PKCE for every client, and only S256: a stolen code is useless without the verifier."""
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.",
                                      redirect_uri=redirect_uri)
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        item = AuthorizationCode(
            code=code, client_id=request.client.client_id, redirect_uri=request.payload.redirect_uri,
            scope=request.payload.scope, user_id=request.user.id, nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"), code_challenge_method=data.get("code_challenge_method"))
        db.session.add(item)
        db.session.commit()
        return item

    def query_authorization_code(self, code, client):
        item = db.session.scalar(select(AuthorizationCode).where(
            AuthorizationCode.code == code, AuthorizationCode.client_id == client.client_id))
        if item and not item.is_expired():
            return item
        return None

    def delete_authorization_code(self, authorization_code):
        db.session.delete(authorization_code)  # single use: gone before the token is issued
        db.session.commit()

    def authenticate_user(self, authorization_code):
        return db.session.get(User, authorization_code.user_id)


def user_info(user, scope):
    """The claims a client may see, by scope."""
    info = UserInfo(sub=user.subject)
    if "profile" in scope:
        info["name"] = user.name
    if "email" in scope:
        info["email"] = user.email
        info["email_verified"] = False  # PayLab ID sends no mail, so it cannot vouch for the address
    return info


class PayLabOpenIDCode(OpenIDCode):
    def exists_nonce(self, nonce, request):
        return db.session.scalar(select(AuthorizationCode.id).where(
            AuthorizationCode.client_id == request.payload.client_id, AuthorizationCode.nonce == nonce)) is not None

    def resolve_client_private_key(self, client):
        return current_app.extensions["idp_signing_key"]

    def get_client_algorithm(self, client):
        return "RS256"

    def get_client_claims(self, client):
        return {"iss": issuer(), "aud": [client.client_id], "exp": int(time.time()) + ID_TOKEN_LIFETIME_SECONDS}

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": current_app.extensions["idp_signing_key"].kid}

    def generate_user_info(self, user, scope):
        return user_info(user, scope)


class UserTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        return db.session.scalar(select(Token).where(Token.access_token == hash_token(token_string)))


class UserInfoProtector(ResourceProtector):
    def raise_error_response(self, error):
        status = 403 if error.error == "insufficient_scope" else 401
        raise ApiError(status, error.error, error.get_error_description() or "A valid access token is required.",
                       {"WWW-Authenticate": f'Bearer error="{error.error}"'})


require_user_token = UserInfoProtector()
require_user_token.register_token_validator(UserTokenValidator())


def init_oidc_server(app):
    app.extensions["idp_signing_key"] = load_signing_key(app.instance_path)
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {})
    app.config["OAUTH2_TOKEN_EXPIRES_IN"].setdefault("authorization_code", 3600)
    server = AuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_grant(AuthorizationCodeGrant, [S256Required(required=True), PayLabOpenIDCode(require_nonce=True)])
    app.extensions["idp_oidc"] = server


def oidc_server():
    return current_app.extensions["idp_oidc"]


def discovery_document():
    base = issuer()
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "token_endpoint_auth_methods_supported": AuthorizationCodeGrant.TOKEN_ENDPOINT_AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "email",
                             "email_verified"],
    }
