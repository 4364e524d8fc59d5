"""PayLab ID's OpenID Connect provider, built from Authlib's server classes.

Authorization code only, PKCE with S256 required of every client, exact
redirect URIs, nonces honoured, codes short-lived and single-use (a replayed
code revokes the tokens issued from it), parameters checked against their
grammar before anything else, and an RS256 id_token signed with the key in
instance/.
"""
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import current_app
from flask import request as flask_request
from sqlalchemy import select

from ..common.errors import ApiError
from ..common.security import token_hash as hash_token
from ..extensions import db
from .keys import load_signing_key
from .models import AuthorizationCode, Client, Token, User
from .parameters import MalformedParameter, check_parameters, parse_basic_credentials
from .services import forget_spent_codes, redeem_authorization_code, revoke_tokens_issued_from

SCOPES_SUPPORTED = ["openid", "profile", "email"]
ID_TOKEN_LIFETIME_SECONDS = 3600


def issuer():
    return current_app.config["PUBLIC_URL"] + "/idp"


def query_client(client_id):
    return db.session.scalar(select(Client).where(Client.client_id == client_id))


def save_token(token, request):
    code = getattr(request, "authorization_code", None)
    db.session.add(Token(client_id=request.client.client_id, user_id=request.user.id, token_type=token["token_type"],
                         access_token=hash_token(token["access_token"]), scope=token.get("scope", ""),
                         expires_in=token["expires_in"], authorization_code_id=code.id if code else None))
    db.session.commit()


def authenticate_client_secret_basic(query_client, request):
    """client_secret_basic that treats a malformed header as no credentials, never as a 500.

    Authlib's own decodes the header as UTF-8 without catching the error; this one answers
    401 invalid_client for a header that is not base64 of UTF-8 (see parameters.py).
    """
    client_id, client_secret = parse_basic_credentials(request.headers.get("Authorization"))
    if not (client_id and client_secret):
        return None
    client = query_client(client_id)
    if client is not None and client.check_client_secret(client_secret):
        return client
    return None


class PayLabAuthorizationServer(AuthorizationServer):
    """Authlib's server, with every request's parameters checked at the edge (see parameters.py)."""

    def create_oauth2_request(self, request):
        try:
            check_parameters([flask_request.args, flask_request.form])
        except MalformedParameter as exc:
            raise InvalidRequestError(str(exc)) from None
        return super().create_oauth2_request(request)

    def create_token_response(self, request=None):
        # Authlib builds the request outside its own error handling: answer the JSON error here.
        try:
            return super().create_token_response(request)
        except OAuth2Error as error:
            return self.handle_error_response(request, error)


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
        forget_spent_codes()
        return item

    def query_authorization_code(self, code, client):
        item = db.session.scalar(select(AuthorizationCode).where(
            AuthorizationCode.code == code, AuthorizationCode.client_id == client.client_id))
        if item is None:
            return None
        if item.redeemed_at is not None:  # a replay, however late: the code leaked
            revoke_tokens_issued_from(item)
            return None
        return None if item.is_expired() else item

    def delete_authorization_code(self, authorization_code):
        """Nothing to do: SingleUseCode redeemed the code before the token was issued.

        The record stays, marked, so that a replay is recognised and revokes what was issued.
        """

    def authenticate_user(self, authorization_code):
        return db.session.get(User, authorization_code.user_id)


class SingleUseCode:
    """Grant extension: redeem the code atomically just before a token is issued for it.

    Registered on Authlib's `before_create_token_response` hook, so it runs after every
    check (client, redirect URI, PKCE verifier): a wrong verifier does not burn the code.
    Of two redemptions racing each other, the loser is a replay and revokes the winner's tokens.
    """

    def __call__(self, grant):
        grant.register_hook("before_create_token_response", self.redeem)

    @staticmethod
    def redeem(grant):
        if not redeem_authorization_code(grant.request.authorization_code):
            raise InvalidGrantError("This code was already used; the tokens issued for it are revoked.")


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
    app.extensions["idp_signing_key"] = load_signing_key(app.config, app.instance_path)
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {})
    app.config["OAUTH2_TOKEN_EXPIRES_IN"].setdefault("authorization_code", 3600)
    server = PayLabAuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
    server.register_grant(AuthorizationCodeGrant, [S256Required(required=True), PayLabOpenIDCode(require_nonce=True),
                                                   SingleUseCode()])
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
