"""The identity provider, PayLab ID: accounts, and an OpenID Connect provider for the shop (and others)."""
from flask import Blueprint

from ..common.errors import serve_json_errors_under
from ..common.sessions import serve_sessions_under

bp = Blueprint("idp", __name__, url_prefix="/idp", template_folder="templates", static_folder="static")


def init_idp(app):
    """Register the provider's routes, OIDC server, rate limits and CLI on `app`."""
    from . import routes  # noqa: F401  (routes register on bp)
    from .cli import idp_cli
    from .oauth2 import init_oidc_server

    init_oidc_server(app)
    app.register_blueprint(bp)
    serve_sessions_under(app, "/idp", "idp")
    serve_json_errors_under(app, "/idp/token", "/idp/userinfo", "/idp/jwks", "/idp/.well-known/")
    app.cli.add_command(idp_cli)
