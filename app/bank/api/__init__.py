"""The bank's merchant API: the published contract (payment requests, OpenAPI) and its token server.

Programs call it, never browsers: it answers only JSON, and it is exempt from CSRF
as a whole because a bearer token (or the client's secret at /oauth/token), not a
cookie, proves who is calling. A refusal of the domain is answered here, once,
with the HTTP status and error code it carries.
"""
from flask import Blueprint

from ...common.errors import ApiError, DomainError, handle_api_error
from ...extensions import csrf

bp = Blueprint("api", __name__)
csrf.exempt(bp)


@bp.errorhandler(DomainError)
def answer_domain_refusal(exc):
    return handle_api_error(ApiError.from_domain(exc))


from . import routes  # noqa: E402,F401  (the views register on bp)
