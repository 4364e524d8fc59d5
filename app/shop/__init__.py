"""The shop, Veldt Market: catalogue, cart, checkout, orders, the bank client and the webhook receiver."""
from flask import Blueprint

from ..common.errors import serve_json_errors_under
from ..common.sessions import serve_sessions_under

bp = Blueprint("shop", __name__, url_prefix="/shop", template_folder="templates",
               static_folder="static", static_url_path="/static")


def init_shop(app):
    """Register the shop's routes and socket namespace on `app`."""
    from . import routes, webhooks  # noqa: F401  (routes register on bp)
    from .events import ShopNamespace

    app.register_blueprint(bp)
    serve_sessions_under(app, "/shop", "shop")
    serve_json_errors_under(app, "/shop/webhooks/", "/shop/api/")
    app.extensions["socketio"].on_namespace(ShopNamespace("/shop"))
