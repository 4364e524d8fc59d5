"""The merchant portal at /bank/merchant/: a merchant signs in with its API credentials, as at a real
acquirer's portal, and sees its payments, its balance and every webhook attempt. Its own cookie
(merchant_session), never the customer's bank session.
"""
from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/merchant")

from . import routes  # noqa: E402,F401  (the views register on bp)
