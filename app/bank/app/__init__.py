"""The customer's banking app at /bank/app/: made for a phone first, installable (a PWA).

Its pages (routes.py), the JSON those pages and the service worker call under
/bank/app/api/ (api.py, a blueprint of its own that answers only JSON), and the
installable side: manifest, service worker, offline shell (pwa.py).
"""
from pathlib import Path

from flask import Blueprint

from ...common import tracing
from ...common.errors import ApiError, DomainError, handle_api_error

PWA_DIR = Path(__file__).resolve().parents[3] / "pwa"

bp = Blueprint("app", __name__, url_prefix="/app")
api_bp = Blueprint("api", __name__, url_prefix="/api")


@api_bp.errorhandler(DomainError)
def answer_domain_refusal(exc):
    """A refusal of the domain (wrong PIN, locked card, not found…) as the JSON answer it carries."""
    tracing.refuse_step(exc.message, getattr(exc, "factor", None))
    return handle_api_error(ApiError.from_domain(exc))


from . import api, pwa, routes  # noqa: E402,F401  (the views register on bp and api_bp)

bp.register_blueprint(api_bp)
