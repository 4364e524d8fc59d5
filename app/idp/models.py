"""The identity provider's tables (bind "idp"): users, OAuth clients, codes, tokens and consents."""
import secrets
import time

from authlib.integrations.sqla_oauth2 import OAuth2AuthorizationCodeMixin, OAuth2ClientMixin, OAuth2TokenMixin
from werkzeug.security import check_password_hash

from ..common.clock import utcnow
from ..extensions import db

CODE_LIFETIME_SECONDS = 60


class IdpModel(db.Model):
    __abstract__ = True
    __bind_key__ = "idp"


class User(IdpModel):
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    # The OIDC subject: opaque and stable, so no client learns our row ids.
    subject = db.Column(db.String(40), unique=True, nullable=False, default=lambda: secrets.token_urlsafe(16))
    email = db.Column(db.String(254), unique=True, nullable=False)
    name = db.Column(db.String(100), nullable=False)
    password_hash = db.Column(db.String(255), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)

    def get_user_id(self):
        return self.id


class Client(IdpModel, OAuth2ClientMixin):
    """An application that may ask users to sign in with PayLab ID."""
    __tablename__ = "clients"
    id = db.Column(db.Integer, primary_key=True)
    client_id = db.Column(db.String(48), unique=True, nullable=False)
    client_secret = db.Column(db.String(255))  # a password hash, never the secret itself
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    def check_client_secret(self, client_secret):
        return bool(self.client_secret) and check_password_hash(self.client_secret, client_secret)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris  # exact match only: no prefixes, no wildcards


class AuthorizationCode(IdpModel, OAuth2AuthorizationCodeMixin):
    """A code the user's browser carries to the client; single use, and kept after use.

    A used code is marked, not deleted, so that a second redemption is recognised as a
    replay (the code leaked) and every token issued from it revoked (RFC 6749 §4.1.2).
    """
    __tablename__ = "authorization_codes"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    redeemed_at = db.Column(db.DateTime)  # set once, atomically, by the one redemption that counts
    replayed_at = db.Column(db.DateTime)  # set by the first replay: the tokens issued from it are void
    user = db.relationship("User")

    def is_expired(self):
        return self.auth_time + CODE_LIFETIME_SECONDS < time.time()


class Token(IdpModel, OAuth2TokenMixin):
    """An access token for /userinfo; `access_token` holds its SHA-256, not the token."""
    __tablename__ = "tokens"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    # The code this token was issued for: a replay of that code revokes it.
    authorization_code_id = db.Column(
        db.Integer, db.ForeignKey("authorization_codes.id", ondelete="SET NULL"), index=True)
    user = db.relationship("User")
    authorization_code = db.relationship("AuthorizationCode")

    def is_revoked(self):
        # The code's mark as well as our own: a token saved just after a racing replay
        # revoked its siblings is void all the same.
        replayed = self.authorization_code is not None and self.authorization_code.replayed_at is not None
        return bool(super().is_revoked()) or replayed


class Consent(IdpModel):
    """A user's remembered "yes" to a client for some scopes."""
    __tablename__ = "consents"
    __table_args__ = (db.UniqueConstraint("user_id", "client_id"),)
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    client_id = db.Column(db.String(48), nullable=False)
    scope = db.Column(db.Text, nullable=False)
    granted_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    def covers(self, scope):
        return set((scope or "").split()) <= set(self.scope.split())
