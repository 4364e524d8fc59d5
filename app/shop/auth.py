"""Sign in to the shop with OpenID Connect: Authlib's Flask client, configured per provider.

The shop is a relying party. It keeps no passwords: a shop user is the pair
(issuer, subject) that a provider vouches for in a signed id_token. Any OIDC
provider works by configuration alone (see config.py, LOGIN_PROVIDERS).
"""
import threading

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from flask import current_app
from joserfc.errors import JoseError
from requests import RequestException
from sqlalchemy import select

from ..common.http import HttpSettings, oauth_session_class
from ..extensions import db
from .models import ShopUser, utcnow

DEFAULT_LABELS = {"paylab": "PayLab ID", "google": "Google"}
_registry_lock = threading.Lock()


class SignInFailed(Exception):
    """The provider said no, or its answer did not check out: state, signature, nonce, issuer…"""


class SignInDeclined(SignInFailed):
    """The person chose Deny at the provider: nothing failed, and the message says so in plain words."""


def declined_message(label):
    """What the shop says when someone chose not to share their account (`label`, e.g. "PayLab ID") with it."""
    account = f"your {label}" if label.endswith(" ID") else f"your {label} account"
    return (f"You chose not to share {account} with Veldt Market, so you are not signed in. "
            "Try again when you are ready.")


def provider_names(config):
    return [name.strip().lower() for name in config.get("LOGIN_PROVIDERS", "").split(",") if name.strip()]


def provider_settings(config, name):
    prefix = f"OIDC_{name.upper()}_"
    return {"metadata_url": config.get(prefix + "METADATA_URL"), "client_id": config.get(prefix + "CLIENT_ID"),
            "client_secret": config.get(prefix + "CLIENT_SECRET"),
            "label": config.get(prefix + "LABEL") or DEFAULT_LABELS.get(name, name.title()),
            "scope": config.get(prefix + "SCOPE") or "openid profile email"}


def login_providers(config):
    """[(name, label)] of the configured providers that have what they need."""
    result = []
    for name in provider_names(config):
        settings = provider_settings(config, name)
        if settings["metadata_url"] and settings["client_id"]:
            result.append((name, settings["label"]))
    return result


def oauth_registry(app):
    """This app's Authlib registry, built on first use (after `flask seed` wrote the credentials)."""
    registry = app.extensions.get("shop_oauth")
    if registry is not None:
        return registry
    with _registry_lock:
        if "shop_oauth" in app.extensions:
            return app.extensions["shop_oauth"]

        class TracedApp(FlaskOAuth2App):
            client_cls = oauth_session_class(HttpSettings.from_config(app.config, sender="shop", receiver="idp"))

        class TracedOAuth(OAuth):
            oauth2_client_cls = TracedApp

        registry = TracedOAuth()
        registry.init_app(app)
        for name, _ in login_providers(app.config):
            settings = provider_settings(app.config, name)
            registry.register(name, client_id=settings["client_id"], client_secret=settings["client_secret"],
                              server_metadata_url=settings["metadata_url"],
                              client_kwargs={"scope": settings["scope"], "code_challenge_method": "S256"})
        app.extensions["shop_oauth"] = registry
        return registry


def login_client(name):
    if name not in dict(login_providers(current_app.config)):
        return None
    return oauth_registry(current_app).create_client(name)


def complete_sign_in(client):
    """Finish the code flow: check state, swap the code (with the PKCE verifier), verify the id_token
    (signature, issuer, audience, expiry, nonce), then ask /userinfo for the profile."""
    try:
        token = client.authorize_access_token()
        claims = token.get("userinfo")
        if not claims:
            raise SignInFailed("The provider sent no id_token.")
        profile = client.userinfo(token=token)
    except SignInFailed:
        raise
    except OAuthError as exc:
        if exc.error == "access_denied":  # RFC 6749 §4.1.2.1: the resource owner said no (Deny)
            label = provider_settings(current_app.config, client.name)["label"]
            raise SignInDeclined(declined_message(label)) from None
        raise SignInFailed(exc.description or exc.error) from None
    except (JoseError, RequestException, ValueError, KeyError) as exc:
        raise SignInFailed(f"The provider's answer did not check out ({type(exc).__name__}).") from None
    if profile.get("sub") != claims["sub"]:
        raise SignInFailed("The provider's userinfo is about someone else.")
    return upsert_user(claims["iss"], claims["sub"], profile.get("email") or claims.get("email", ""),
                       profile.get("name") or claims.get("name", ""))


def upsert_user(issuer, subject, email, name):
    user = db.session.scalar(select(ShopUser).where(ShopUser.issuer == issuer, ShopUser.subject == subject))
    if user is None:
        user = ShopUser(issuer=issuer, subject=subject)
        db.session.add(user)
    user.email, user.name, user.last_sign_in_at = email[:254], (name or email)[:100], utcnow()
    db.session.commit()
    return user
