"""PayLab ID's domain logic: accounts, clients and consents. No request context needed."""
import secrets
import time

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from ..common.clock import utcnow
from ..common.errors import DomainError
from ..common.security import GIVEN_CLIENT_ID, GIVEN_SECRET, account_if_password_matches
from ..extensions import db
from .models import AuthorizationCode, Client, Consent, Token, User
from .parameters import CONTROL_CHARACTERS, PRINTABLE_ASCII

MIN_PASSWORD_LENGTH = 10
NAME_MAX_LENGTH = 100
# Used codes are kept (a replay must find them to revoke their tokens) for longer than any token lives.
SPENT_CODE_RETENTION_SECONDS = 24 * 3600
# Compared against when an email is unknown, so a miss costs what a wrong password costs.
SIGN_UP_REFUSED = "You can't create an account with that email address. If you already have one, sign in."


class IdpError(DomainError):
    """PayLab ID refuses (an invalid email, a weak password …)."""


def normalise_email(text):
    try:
        return validate_email((text or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise IdpError("Enter a valid email address, such as name@example.co.za.", "email") from None


def create_user(email, name, password):
    """Sign up. The same neutral message covers a taken email, so sign-up reveals as little as sign-in."""
    email = normalise_email(email)
    if not (name or "").strip():
        raise IdpError("Tell us your name.", "name")
    if CONTROL_CHARACTERS.search(name) or len(name.strip()) > NAME_MAX_LENGTH:
        # PostgreSQL refuses a NUL in text, and the column holds 100 characters: refuse both here.
        raise IdpError(f"Write your name in at most {NAME_MAX_LENGTH} letters, spaces and punctuation.", "name")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise IdpError(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.", "password")
    user = User(email=email, name=name.strip(), password_hash=generate_password_hash(password))
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise IdpError(SIGN_UP_REFUSED, "email") from None
    return user


def email_is_registered(email):
    """For the operator's seed, which must not pay for a password hash to learn that the user exists."""
    return db.session.scalar(select(User.id).where(User.email == normalise_email(email))) is not None


def authenticate(email, password):
    """The user with these credentials, or None. Unknown email and wrong password look the same."""
    try:
        email = normalise_email(email)
    except IdpError:
        email = None
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    return account_if_password_matches(user, password)


def create_client(name, redirect_uris, scope="openid profile email", client_id=None, client_secret=None):
    """Register a relying party; returns (client, client_secret). The secret is stored hashed.

    The credentials are made here unless the operator gives both (a deployment whose hosts share
    them through their configuration)."""
    if not (name or "").strip():
        raise IdpError("A client needs a name.", "name")
    uris = [uri.strip() for uri in redirect_uris if uri and uri.strip()]
    if not uris or not all(uri.startswith(("http://", "https://")) for uri in uris):
        raise IdpError("Give at least one absolute http(s) redirect URI.", "redirect_uri")
    if (client_id or client_secret) and not (client_id and GIVEN_CLIENT_ID.fullmatch(client_id) and client_secret
                                             and GIVEN_SECRET.fullmatch(client_secret)):
        raise IdpError("Give the client id (4-64 of A-Z a-z 0-9 _ -) and the client secret (24-128 of "
                       "those), or neither.", "client_id")
    secret = client_secret or secrets.token_urlsafe(32)
    client = Client(client_id=client_id or "pid_" + secrets.token_hex(8), client_secret=generate_password_hash(secret))
    client.set_client_metadata({"client_name": name.strip(), "redirect_uris": uris, "scope": scope,
                                "grant_types": ["authorization_code"], "response_types": ["code"],
                                "token_endpoint_auth_method": "client_secret_basic"})
    db.session.add(client)
    db.session.commit()
    return client, secret


def add_redirect_uri(client, uri):
    """Allow one more exact redirect URI (e.g. after PUBLIC_URL changed). Commits."""
    metadata = dict(client.client_metadata)
    if uri not in metadata.get("redirect_uris", []):
        metadata["redirect_uris"] = metadata.get("redirect_uris", []) + [uri]
        client.set_client_metadata(metadata)
        db.session.commit()


def find_client(client_id):
    return db.session.scalar(select(Client).where(Client.client_id == client_id))


def consent_for(user, client_id):
    return db.session.scalar(select(Consent).where(Consent.user_id == user.id, Consent.client_id == client_id))


def remember_consent(user, client_id, scope):
    consent = consent_for(user, client_id)
    if consent is None:
        db.session.add(Consent(user_id=user.id, client_id=client_id, scope=scope))
    else:
        consent.scope = " ".join(sorted(set(consent.scope.split()) | set(scope.split())))
    db.session.commit()


def consents_of(user):
    return db.session.scalars(select(Consent).where(Consent.user_id == user.id)).all()


def revoke_consent(user, client_id):
    if not PRINTABLE_ASCII.fullmatch(client_id or ""):
        return  # no client has such an id (and PostgreSQL would refuse a NUL in the query)
    consent = consent_for(user, client_id)
    if consent is not None:
        db.session.delete(consent)
        db.session.commit()


def forget_spent_codes(keep_seconds=SPENT_CODE_RETENTION_SECONDS):
    """Delete codes issued more than `keep_seconds` ago: by then every token issued from them has expired."""
    db.session.execute(delete(AuthorizationCode).where(AuthorizationCode.auth_time < int(time.time()) - keep_seconds))
    db.session.commit()


def redeem_authorization_code(code):
    """Mark `code` used, atomically; False if it already was: then it is a replay, and revoked.

    One conditional UPDATE decides, so of two redemptions racing each other exactly one wins.
    """
    claimed = db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == code.id, AuthorizationCode.redeemed_at.is_(None))
        .values(redeemed_at=utcnow()))
    db.session.commit()
    if claimed.rowcount == 1:
        return True
    revoke_tokens_issued_from(code)
    return False


def revoke_tokens_issued_from(code):
    """A code came back a second time, so it leaked: void every token issued from it (RFC 6749 §4.1.2).

    The code is marked too, so a token its first redemption saves after this still counts as revoked.
    """
    db.session.execute(update(AuthorizationCode)
                       .where(AuthorizationCode.id == code.id, AuthorizationCode.replayed_at.is_(None))
                       .values(replayed_at=utcnow()))
    db.session.execute(update(Token)
                       .where(Token.authorization_code_id == code.id, Token.access_token_revoked_at == 0)
                       .values(access_token_revoked_at=int(time.time())))
    db.session.commit()
