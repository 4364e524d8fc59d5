"""The bank's OAuth 2.0 token server (client credentials) and the guard on its API.

Merchants authenticate with `client_secret_basic` and get a short-lived bearer
token with scope `payments`; the API checks that token on every call.
"""

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import current_app
from sqlalchemy import select

from ...common.errors import ApiError
from ...common.security import token_hash as hash_token
from ...extensions import db
from ..models import AccessToken, Merchant


class MerchantCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]


class BankAuthorizationServer(AuthorizationServer):
    """Authlib's server, answering errors with the bank's `message` field beside the OAuth ones."""

    def handle_response(self, status_code, payload, headers):
        if isinstance(payload, dict) and "error" in payload:
            payload = dict(payload, message=payload.get("error_description") or payload["error"].replace("_", " "))
        return super().handle_response(status_code, payload, headers)


def query_client(client_id):
    return db.session.scalar(select(Merchant).where(Merchant.client_id == client_id))


def save_token(token, request):
    db.session.add(AccessToken(token_hash=hash_token(token["access_token"]), merchant_id=request.client.id,
                               scope=token.get("scope", ""), expires_in=token["expires_in"]))
    db.session.commit()


class MerchantTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        return db.session.scalar(select(AccessToken).where(AccessToken.token_hash == hash_token(token_string)))


class MerchantApiProtector(ResourceProtector):
    """Answers missing or bad tokens as the API's JSON errors: 401, or 403 for a wrong scope."""

    def raise_error_response(self, error):
        if error.error == "insufficient_scope":
            raise ApiError(403, "insufficient_scope", "This token lacks the 'payments' scope.")
        message = {"missing_authorization": "Send 'Authorization: Bearer <token>' from /bank/oauth/token."}.get(
            error.error, "The access token is missing, invalid or expired; get a new one from /bank/oauth/token.")
        raise ApiError(401, "invalid_token", message, {"WWW-Authenticate": 'Bearer realm="bank"'})


require_merchant_token = MerchantApiProtector()
require_merchant_token.register_token_validator(MerchantTokenValidator())


def init_oauth2(app):
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {})  # shared with the identity provider
    app.config["OAUTH2_TOKEN_EXPIRES_IN"].setdefault("client_credentials", app.config["BANK_TOKEN_TTL_SECONDS"])
    server = BankAuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_grant(MerchantCredentialsGrant)
    app.extensions["bank_oauth2"] = server


def authorization_server():
    return current_app.extensions["bank_oauth2"]


