"""The shop's pages. Thin: forms in, `services` does the work, templates out."""
import secrets

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for

from ..common.errors import ApiError
from ..common.http import HttpClient
from . import bp, services
from .bank_client import BankClient
from .catalogue import DELIVERY_METHODS
from .events import announce_order_status
from .forms import AddressForm, ConfirmForm, ConfirmOrderForm, DeliveryForm, PayForm, QuantityForm

CHECKOUT_STEPS = [("shop.checkout_confirm", "Confirm order"), ("shop.checkout_delivery", "Delivery"),
                  ("shop.checkout_address", "Address"), ("shop.checkout_review", "Review & pay")]


def bank_client():
    """The shop's client of the bank API, made on first use (after `flask seed` gave it credentials)."""
    client = current_app.extensions.get("shop_bank_client")
    if client is None:
        config = current_app.config
        client = current_app.extensions.setdefault("shop_bank_client", BankClient(
            HttpClient.from_config(config, sender="shop"), config["BANK_API_URL"],
            config["BANK_CLIENT_ID"], config["BANK_CLIENT_SECRET"]))
    return client


@bp.before_request
def identify_shopper():
    """Every visitor gets an anonymous shopper id in the shop session: it owns their cart and orders."""
    if request.path.startswith("/shop/webhooks/"):
        return  # the bank is not a shopper
    if "shopper_id" not in session:
        session["shopper_id"] = secrets.token_urlsafe(16)
        session.permanent = True


@bp.app_context_processor
def shop_template_helpers():
    cart = session.get("cart", {}) if request.path.startswith("/shop") else {}
    return {"cart_count": sum(int(q) for q in cart.values()), "checkout_steps": CHECKOUT_STEPS,
            "delivery_methods": DELIVERY_METHODS, "bank_app_url": current_app.config["PUBLIC_URL"] + "/bank/app/"}


def _cart():
    return session.get("cart", {})


def _checkout():
    return session.setdefault("checkout", {})


# --- catalogue and cart ---------------------------------------------------------

@bp.get("/")
def catalogue():
    return render_template("shop/catalogue.html", products=services.list_products(), form=QuantityForm())


@bp.get("/products/<slug>")
def product(slug):
    item = services.get_product(slug)
    if item is None:
        abort(404, "We do not sell that product (any more).")
    return render_template("shop/product.html", product=item, form=QuantityForm())


@bp.post("/cart/add/<slug>")
def cart_add(slug):
    form = QuantityForm()
    if not form.validate_on_submit() or not form.quantity.data:
        flash("Choose a quantity from 1 to 10.", "error")
        return redirect(request.referrer or url_for("shop.catalogue"))
    try:
        session["cart"] = services.add_to_cart(_cart(), slug, form.quantity.data)
    except services.ShopError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Added {services.get_product(slug).name} to your cart.", "info")
    return redirect(url_for("shop.cart"))


@bp.get("/cart")
def cart():
    return render_template("shop/cart.html", summary=services.cart_summary(_cart()), form=QuantityForm(),
                           remove_form=ConfirmForm())


@bp.post("/cart/<slug>")
def cart_update(slug):
    form = QuantityForm()
    if not form.validate_on_submit():
        flash(next(iter(form.errors.values()))[0], "error")
        return redirect(url_for("shop.cart"))
    try:
        session["cart"] = services.set_cart_quantity(_cart(), slug, form.quantity.data)
    except services.ShopError as exc:
        flash(exc.message, "error")
    return redirect(url_for("shop.cart"))


@bp.post("/cart/<slug>/remove")
def cart_remove(slug):
    if ConfirmForm().validate_on_submit() and slug in _cart():
        session["cart"] = services.set_cart_quantity(_cart(), slug, 0)
    return redirect(url_for("shop.cart"))


# --- checkout: confirm → delivery → address → review & pay ----------------------

def _require_cart():
    if not services.cart_summary(_cart())["lines"]:
        flash("Your cart is empty: add something first.", "error")
        return redirect(url_for("shop.catalogue"))
    return None


@bp.route("/checkout/", methods=["GET", "POST"])
def checkout_confirm():
    if (back := _require_cart()):
        return back
    form = ConfirmOrderForm(data={"email": _checkout().get("email", "")} if request.method == "GET" else None)
    if form.validate_on_submit():
        _checkout()["email"] = form.email.data.strip()
        session.modified = True
        return redirect(url_for("shop.checkout_delivery"))
    return render_template("shop/checkout_confirm.html", form=form, step=0, summary=services.cart_summary(_cart()))


@bp.route("/checkout/delivery", methods=["GET", "POST"])
def checkout_delivery():
    if (back := _require_cart()) or (back := _require_step("email", "shop.checkout_confirm")):
        return back
    form = DeliveryForm(data={"method": _checkout().get("delivery", "standard")} if request.method == "GET" else None)
    if form.validate_on_submit():
        _checkout()["delivery"] = form.method.data
        session.modified = True
        return redirect(url_for("shop.checkout_address"))
    return render_template("shop/checkout_delivery.html", form=form, step=1,
                           summary=services.cart_summary(_cart(), _checkout().get("delivery")))


@bp.route("/checkout/address", methods=["GET", "POST"])
def checkout_address():
    if (back := _require_cart()) or (back := _require_step("delivery", "shop.checkout_delivery")):
        return back
    form = AddressForm(data=_checkout().get("address") if request.method == "GET" else None)
    if form.validate_on_submit():
        _checkout()["address"] = {name: (field.data or "").strip() for name, field in form._fields.items()
                                  if name != "csrf_token"}
        session.modified = True
        return redirect(url_for("shop.checkout_review"))
    return render_template("shop/checkout_address.html", form=form, step=2,
                           summary=services.cart_summary(_cart(), _checkout().get("delivery")))


@bp.get("/checkout/review")
def checkout_review():
    if (back := _require_cart()) or (back := _require_step("address", "shop.checkout_address")):
        return back
    return _render_review(PayForm(payment_token=services.new_payment_token()))


def _render_review(form, status=200):
    checkout = _checkout()
    return render_template("shop/checkout_review.html", form=form, step=3, checkout=checkout,
                           delivery=DELIVERY_METHODS[checkout["delivery"]],
                           summary=services.cart_summary(_cart(), checkout["delivery"])), status


def _require_step(key, endpoint):
    if not _checkout().get(key):
        return redirect(url_for(endpoint))
    return None


@bp.post("/checkout/pay")
def checkout_pay():
    """Pay now: place the order (once per checkout) and ask the bank for the payment."""
    if (back := _require_step("address", "shop.checkout_address")):
        existing_token = request.form.get("payment_token", "")
        order = services.order_by_checkout_token(session["shopper_id"], existing_token)
        return redirect(url_for("shop.order", order_id=order.id)) if order else back
    form = PayForm()
    if not form.validate_on_submit():
        return _render_review(form, 422)
    checkout = _checkout()
    try:
        services.validate_card_number(form.card_number.data)
        order = services.place_order(session["shopper_id"], form.payment_token.data, checkout["email"], _cart(),
                                     checkout["delivery"], checkout["address"])
    except services.ShopError as exc:
        form.card_number.errors.append(exc.message)
        return _render_review(form, 422)
    session.pop("cart", None)
    session.pop("checkout", None)
    return _pay(order, form.card_number.data, form.payment_token.data)


def _pay(order, card_number, token):
    try:
        attempt = services.request_payment(order, card_number, token, bank_client(),
                                           current_app.config["SHOP_WEBHOOK_URL"])
    except services.ShopError as exc:
        flash(exc.message, "error")
        return redirect(url_for("shop.order", order_id=order.id))
    if attempt.status == "error":
        flash(services.STATUS_MESSAGES["error"], "error")
    announce_order_status(order)
    return redirect(url_for("shop.order", order_id=order.id))


# --- orders --------------------------------------------------------------------

def _own_order(order_id):
    order = services.order_for_shopper(session["shopper_id"], order_id)
    if order is None:
        abort(404, "No such order in your order history.")
    return order


@bp.get("/orders/")
def orders():
    return render_template("shop/orders.html", orders=services.orders_for_shopper(session["shopper_id"]))


@bp.get("/orders/<int:order_id>")
def order(order_id):
    order = _own_order(order_id)
    return render_template("shop/order.html", order=order, status=services.order_status_payload(order),
                           pay_form=PayForm(payment_token=services.new_payment_token()), cancel_form=ConfirmForm())


@bp.post("/orders/<int:order_id>/pay")
def order_pay(order_id):
    """Try again after a decline, an expiry or an unreachable bank."""
    order = _own_order(order_id)
    form = PayForm()
    if not form.validate_on_submit():
        flash(next(iter(form.errors.values()))[0], "error")
        return redirect(url_for("shop.order", order_id=order.id))
    return _pay(order, form.card_number.data, form.payment_token.data)


@bp.post("/orders/<int:order_id>/cancel")
def order_cancel(order_id):
    order = _own_order(order_id)
    if not ConfirmForm().validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("shop.order", order_id=order.id))
    try:
        services.cancel_payment(order, bank_client())
    except services.ShopError as exc:
        flash(exc.message, "error")
    announce_order_status(order)
    return redirect(url_for("shop.order", order_id=order.id))


@bp.get("/api/orders/<int:order_id>/status")
def order_status(order_id):
    """The polling fallback: asks the bank when the socket is down, so the page still catches up."""
    order = services.order_for_shopper(session["shopper_id"], order_id)
    if order is None:
        raise ApiError(404, "not_found", "No such order in your order history.")
    if services.refresh_payment_from_bank(order, bank_client()):
        announce_order_status(order)
    return jsonify(services.order_status_payload(order))
