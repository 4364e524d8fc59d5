"""The attack lab (/lab/): the learner plays the attacker against their own checkout, over real HTTP.

It stands outside the three servers, as an attacker does: it imports none of them and reaches them
only at their published addresses. What it tries, and what stopped it, is drawn in the learner's
walkthrough from an attacker's lane.
"""
from flask import Blueprint

from ..common.errors import serve_json_errors_under
from ..common.sessions import serve_sessions_under

bp = Blueprint("lab", __name__, url_prefix="/lab", template_folder="templates", static_folder="static",
               static_url_path="/static")


def init_lab(app):
    from . import routes  # noqa: F401  (routes register on bp)
    from .capture import start_wiretap

    app.register_blueprint(bp)
    serve_sessions_under(app, "/lab", "walkthrough")  # its pages look like the walkthrough's, beside it
    serve_json_errors_under(app, "/lab/api/")
    start_wiretap(app)
