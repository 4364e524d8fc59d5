"""The instructor's credential: HTTP Basic, user "instructor", the password INSTRUCTOR_PASSWORD.

Plumbing shared by every server that shows the instructor something (the walkthrough's page, the
bank's figures): one check, so no door is weaker than another. HTTP Basic because the instructor
is one person with one password from the environment, and every browser and HTTP client speaks it;
the deployment's proxy must be HTTPS for a class reached over a network (as it must for the phones).
Unset, the view does not exist (404): nothing to guess at.
"""
import hmac
from functools import wraps

from flask import current_app, g, request
from werkzeug.exceptions import NotFound, Unauthorized

from .ratelimit import rate_limited

INSTRUCTOR_USER = "instructor"
REALM = 'Basic realm="PayLab instructor", charset="UTF-8"'


class InstructorUnauthorized(Unauthorized):
    description = "The instructor's view needs the instructor's user name and password."

    def get_headers(self, environ=None, scope=None):
        return [*super().get_headers(environ, scope), ("WWW-Authenticate", REALM)]


def is_instructor(authorization, password):
    """Whether an Authorization header's Basic credentials are the instructor's (compared in constant time)."""
    if authorization is None or authorization.type != "basic" or not password:
        return False
    user_ok = hmac.compare_digest((authorization.username or "").encode(), INSTRUCTOR_USER.encode())
    password_ok = hmac.compare_digest((authorization.password or "").encode(), password.encode())
    return user_ok and password_ok


def _wrong_password(response):
    """What the limit counts: a password that was given and was wrong (a browser's first, bare request is not)."""
    return response.status_code == 401 and g.get("instructor_password_given", False)


def instructor_required(view):
    """Only the instructor: 404 while INSTRUCTOR_PASSWORD is unset, 401 (with the Basic challenge) without it."""
    @rate_limited("RATELIMIT_INSTRUCTOR", methods=("GET", "POST"), counts=_wrong_password)
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
