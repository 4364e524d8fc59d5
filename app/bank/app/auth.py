"""Who is using the bank app: the signed-in customer, for pages and for their JSON alike."""
from functools import wraps

from flask import g, redirect, request, session, url_for

from ...common.errors import ApiError
from ...common.security import local_path_or
from ...common.signins import begin_sign_in
from ...extensions import db
from ..models import Customer

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


def sign_in_customer(customer):
    """A fresh bank session for this customer: nothing from before the login survives it."""
    begin_sign_in(session, "bank", f"customer:{customer.id}")
    session["customer_id"] = customer.id


def safe_next(target):
    """Only local bank-app paths: never an open redirect."""
    return local_path_or(target, "/bank/app/", url_for("bank.app.home"))
