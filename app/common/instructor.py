"""The instructor's credential: HTTP Basic, user "instructor", the password INSTRUCTOR_PASSWORD.

Plumbing shared by every server that shows the instructor something (the walkthrough's page, the
bank's figures): one check, so no door is weaker than another. HTTP Basic because the instructor
is one person with one password from the environment, and every browser and HTTP client speaks it;
the deployment's proxy must be HTTPS for a class reached over a network (as it must for the phones).
Unset, the view does not exist (404): nothing to guess at.
"""
import hashlib
import hmac
from functools import wraps

from flask import current_app, g, request
from werkzeug.exceptions import NotFound, Unauthorized

from config import StartupError

from .ratelimit import rate_limited

INSTRUCTOR_USER = "instructor"
REALM = 'Basic realm="PayLab instructor", charset="UTF-8"'
# A floor, not a policy: the guess limit is per address, so a class's network (or a botnet) guesses
# from many; 12 characters leave even a lower-case-only password 26**12 ≈ 10**17 values.
INSTRUCTOR_PASSWORD_MIN_LENGTH = 12


class InstructorPasswordError(StartupError, ValueError):
    """INSTRUCTOR_PASSWORD is set but too short to stand in front of a class's diagnostics."""


def check_instructor_password(config):
    """Stop the start on an instructor's password that a guesser could reach (unset is fine: the view is off)."""
    password = config.get("INSTRUCTOR_PASSWORD")
    if password and len(password) < INSTRUCTOR_PASSWORD_MIN_LENGTH:
        raise InstructorPasswordError(
            f"INSTRUCTOR_PASSWORD is {len(password)} characters: use at least {INSTRUCTOR_PASSWORD_MIN_LENGTH} "
            "(for example: python3 -c 'import secrets; print(secrets.token_urlsafe(16))').")


class InstructorUnauthorized(Unauthorized):
    description = "The instructor's view needs the instructor's user name and password."

    def get_headers(self, environ=None, scope=None):
        return [*super().get_headers(environ, scope), ("WWW-Authenticate", REALM)]


def _digest(user, password):
    return hashlib.sha256(f"{user}\0{password}".encode()).digest()


def is_instructor(authorization, password):
    """Whether an Authorization header's Basic credentials are the instructor's: digests of the same
    length compared in constant time, so not even the password's length shows in the answer's timing."""
    if authorization is None or authorization.type != "basic" or not password:
        return False
    given = _digest(authorization.username or "", authorization.password or "")
    return hmac.compare_digest(given, _digest(INSTRUCTOR_USER, password))


def _wrong_password(response):
    """What the limit counts: a password that was given and was wrong (a browser's first, bare request is not)."""
    return response.status_code == 401 and g.get("instructor_password_given", False)


def instructor_required(view):
    """Only the instructor: 404 while INSTRUCTOR_PASSWORD is unset, 401 (with the Basic challenge) without it."""
    # Every method (HEAD runs the GET view, password check included) and one allowance for every door
    # of every server: a guesser gets RATELIMIT_INSTRUCTOR tries a minute in all, not per URL.
    @rate_limited("RATELIMIT_INSTRUCTOR", methods=("GET", "HEAD", "POST"), per="address, every door",
                  counts=_wrong_password)
    @wraps(view)
    def guarded(*args, **kwargs):
        password = current_app.config.get("INSTRUCTOR_PASSWORD")
        if not password:
            raise NotFound("The instructor's view is off: set INSTRUCTOR_PASSWORD to turn it on.")
        g.instructor_password_given = request.authorization is not None
        if not is_instructor(request.authorization, password):
            raise InstructorUnauthorized()
        return view(*args, **kwargs)
    return guarded
