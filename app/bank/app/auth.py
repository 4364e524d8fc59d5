"""Who is using the bank app: the signed-in customer, for pages and for their JSON alike."""
from functools import wraps

from flask import g, redirect, request, session, url_for

from ...common import tracing
from ...common.errors import ApiError
from ...common.security import local_path_or
from ...common.signins import begin_sign_in
from ...extensions import db
from ..models import Customer
from ..services import NotFound, payment_request_for_customer

API_BLUEPRINT = "bank.app.api"


def customer_required(view):
    """The view needs a signed-in customer (`g.customer`): pages send a stranger to log in, JSON answers 401."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        customer = db.session.get(Customer, session.get("customer_id") or 0)
        if customer is None:
            if API_BLUEPRINT in request.blueprints:
                raise ApiError(401, "not_logged_in", "Log in to the bank app first.")
            return redirect(url_for("bank.app.login", next=request.full_path.rstrip("?")))
        g.customer = customer
        return view(*args, **kwargs)
    return wrapped


def continue_payments_journey(request_id):
    """Serve the rest of this request in the journey of the customer's payment request `request_id` (the
    phone's tap belongs to the merchant's journey), if it is theirs.

    The request stays on `g` until the request ends: the session's identity map holds objects only
    weakly, so the decision service's own lookup of it is then answered from the map instead of a
    second SELECT on the approval's path.
    """
    try:
        g.payment_request = payment_request_for_customer(g.customer, request_id)
    except NotFound:
        return
    tracing.continue_trace(g.payment_request.trace_id)


def sign_in_customer(customer):
    """A fresh bank session for this customer: nothing from before the login survives it."""
    begin_sign_in(session, "bank", f"customer:{customer.id}")
    session["customer_id"] = customer.id


def safe_next(target):
    """Only local bank-app paths: never an open redirect."""
    return local_path_or(target, "/bank/app/", url_for("bank.app.home"))
