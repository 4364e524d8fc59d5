"""The bank's figures for the instructor: thin views over `reports`."""
from flask import jsonify, request

from ...common.errors import ApiError
from ...common.instructor import instructor_required
from . import bp
from .reports import class_figures, customer_diagnostics


@bp.get("/class")
@instructor_required
def class_summary():
    """The class on the bank's side, and the outboxes' backlog (the deployment's health as the bank sees it)."""
    return jsonify(class_figures())


@bp.get("/customers")
@instructor_required
def customer():
    """One learner's phone as the bank sees it: ?username=… (the bank app's user name)."""
    username = request.args.get("username", "")
    if not isinstance(username, str) or not 0 < len(username) <= 80 or "\x00" in username:
        raise ApiError(422, "invalid_field", "username: the learner's bank app user name (1 to 80 characters).")
    diagnostics = customer_diagnostics(username)
    if diagnostics is None:
        raise ApiError(404, "not_found", f"No bank customer called {username!r}.")
    return jsonify(diagnostics)
