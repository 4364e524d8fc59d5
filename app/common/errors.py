"""Errors as people and programs expect them: JSON on APIs, a friendly page elsewhere.

Nothing a client sends may produce a stack trace: unexpected exceptions are
logged and answered with a plain 500 in the right format.
"""
import logging

from flask import current_app, jsonify, render_template, request
from jinja2 import TemplateNotFound
from werkzeug.exceptions import HTTPException, InternalServerError

from .sessions import server_for_path

log = logging.getLogger(__name__)

API_PREFIXES_KEY = "paylab_api_prefixes"


def serve_json_errors_under(app, *prefixes):
    """A server declares which of its URL prefixes programs call: errors there are answered in JSON.

    Each server names its own (common/ keeps no list of other servers' URLs); a URL that
    matches no route still gets the right format, which a blueprint's own handler could not give.
    """
    app.extensions.setdefault(API_PREFIXES_KEY, set()).update(prefixes)


def api_prefixes(app):
    return tuple(sorted(app.extensions.get(API_PREFIXES_KEY, ())))

ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
               422: "invalid_field", 429: "rate_limited", 500: "server_error", 502: "bad_gateway",
               503: "unavailable"}


class DomainError(Exception):
    """What a server's domain logic refuses, in words for people: `message`, and the `field` it is
    about (if any), which a view shows next to that form field or names in a JSON error.

    Each kind also says how an API answers it (`status`, `code`), so one mapping serves every
    JSON view instead of each view guessing (a "not found" answered 409, say).
    """

    status = 400
    code = "bad_request"

    def __init__(self, message, field=None):
        super().__init__(message)
        self.message, self.field = message, field


class ApiError(Exception):
    """An error an API view raises to answer `{"error": code, "message": message}`."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    @classmethod
    def from_domain(cls, exc):
        """The JSON answer a domain refusal stands for: its own status, code and message."""
        return cls(exc.status, exc.code, exc.message)


def json_error(status, code, message, headers=None):
    response = jsonify(error=code, message=message)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def wants_json():
    return request.path.startswith(api_prefixes(current_app)) or (
        request.accept_mimetypes.best == "application/json")


def _error_page(status, title, message):
    server = server_for_path(request.path) or "shop"
    for template in (f"{server}/error.html", "shop/error.html"):
        try:
            return render_template(template, status=status, title=title, message=message), status
        except TemplateNotFound:
            continue
    return f"<h1>{status} {title}</h1><p>{message}</p>", status


# Werkzeug's own wording for these is written for developers; people get a sentence they can act on.
FRIENDLY_DESCRIPTIONS = {413: "That was more than we accept in one go. Go back and send something smaller."}


def handle_http_exception(exc):
    status = exc.code or 500
    headers = dict(exc.get_headers()) if status in (401, 405) else {}  # the challenge, the allowed methods
    headers.pop("Content-Type", None)
    description = FRIENDLY_DESCRIPTIONS.get(status, exc.description)
    if wants_json():
        return json_error(status, ERROR_CODES.get(status, "error"), description, headers)
    body, status = _error_page(status, exc.name, description)
    return body, status, headers


def handle_api_error(exc):
    return json_error(exc.status, exc.code, exc.message, exc.headers)


def handle_unexpected(exc):
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_exception(InternalServerError(
        "Something went wrong on our side. Nothing was lost; please try again."))


def handle_csrf_error(exc):
    """A form without a valid CSRF token: expired, or posted from another site."""
    exc.description = ("This form has expired or did not come from this site. "
                       "Go back, reload the page and try again.")
    return handle_http_exception(exc)


def register_error_handlers(app):
    from flask_wtf.csrf import CSRFError
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
