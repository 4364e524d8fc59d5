"""The shop's pages. Thin: forms in, `services` does the work, templates out."""
import secrets
from functools import wraps

from flask import abort, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for

from ..common.errors import ApiError
from ..common.http import HttpClient
from ..common import tracing
from ..common.qr import qr_svg
from ..common.security import local_path_or
from ..common.signins import begin_sign_in, end_sign_in
from ..common.forms import ConfirmForm
from ..common.tracing import walkthrough_step
from ..extensions import db
from . import auth, bp, services
from .bank_client import BankClient
from .catalogue import DELIVERY_METHODS
from .events import announce_order_status
from .forms import AddressForm, DeliveryForm, PayForm, QuantityForm
from .models import ShopUser

CHECKOUT_STEPS = [("shop.checkout_confirm", "Confirm order"), ("shop.checkout_delivery", "Delivery"),
                  ("shop.checkout_address", "Address"), ("shop.checkout_review", "Review & pay")]


def bank_client():
    """The shop's client of the bank API, made on first use (after `flask seed` gave it credentials)."""
    client = current_app.extensions.get("shop_bank_client")
    if client is None:
        config = current_app.config
        client = current_app.extensions.setdefault("shop_bank_client", BankClient(
            HttpClient.from_config(config, sender="shop", receiver="bank"), config["BANK_API_URL"],
            config["BANK_CLIENT_ID"], config["BANK_CLIENT_SECRET"]))
    return client


@bp.before_request
def load_signed_in_customer():
    """Who is shopping: the signed-in customer, if any."""
    if request.path.startswith("/shop/webhooks/") or request.endpoint == "shop.static":
        # The bank is not a shopper, and a picture must never rewrite the session cookie:
        # a page's many parallel image requests would race each other and the page's CSRF token.
        return
    g.user = db.session.get(ShopUser, session.get("user_id") or 0)
    if "journey_id" not in session:  # this browser's checkout journey: the trace every hop carries
        session["journey_id"] = tracing.new_trace_id()
    tracing.continue_trace(session["journey_id"], owner=tracing.journey_owner(g.user.id if g.user else None))


def _shopper_id():
    """This browser's anonymous id (kept on the order, for support); made when first needed."""
    if "shopper_id" not in session:
        session["shopper_id"] = secrets.token_urlsafe(16)
        session.permanent = True
    return session["shopper_id"]


def signin_required(view):
    """Checkout and orders need a signed-in customer; the cart does not (and survives sign-in)."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.user is None:
            if request.path.startswith("/shop/api/"):
                raise ApiError(401, "not_signed_in", "Sign in to the shop first.")
            flash("Sign in to check out and see your orders. Your cart is kept.", "info")
            return redirect(url_for("shop.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def safe_next(target):
    """Only paths in this shop: `next` can never send anyone to another site."""
    return local_path_or(target, "/shop/", url_for("shop.catalogue"))


@bp.app_context_processor
def shop_template_helpers():
    """What every shop template needs. It renders error pages too, so it never reads the request body:
    a body refused as too large (413) would be refused again here, and the error page would fail."""
    cart = session.get("cart", {}) if request.path.startswith("/shop") else {}
    return {"cart_count": sum(int(q) for q in cart.values()), "checkout_steps": CHECKOUT_STEPS,
            "shop_user": g.get("user"), "signout_form": ConfirmForm(formdata=None),
            "delivery_methods": DELIVERY_METHODS, "bank_app_url": current_app.config["BANK_APP_URL"]}


def _cart():
    return session.get("cart", {})


def _checkout():
    return session.setdefault("checkout", {})


# --- sign in with OpenID Connect ----------------------------------------------------

@bp.get("/signin")
def sign_in():
    next_path = safe_next(request.args.get("next"))
    if g.user is not None:
        return redirect(next_path)
    return render_template("shop/signin.html", providers=auth.login_providers(current_app.config), next=next_path)


@bp.get("/signin/<provider>")
@walkthrough_step("signin_start")
def sign_in_with(provider):
    """Send the browser to the provider, remembering state, nonce and the PKCE verifier in our session."""
    client = auth.login_client(provider)
    if client is None:
        abort(404, "That sign-in provider is not configured.")
    session["signin_next"] = safe_next(request.args.get("next"))
    redirect_uri = f"{current_app.config['PUBLIC_URL']}/shop/auth/{provider}/callback"
    try:
        return client.authorize_redirect(redirect_uri)
    except auth.RequestException:
        return render_template("shop/signin.html", providers=auth.login_providers(current_app.config),
                               next=session["signin_next"],
                               error=f"We could not reach {dict(auth.login_providers(current_app.config))[provider]}. "
                                     "Try again in a moment."), 503


@bp.get("/auth/<provider>/callback")
@walkthrough_step("signin_callback")
def sign_in_callback(provider):
    client = auth.login_client(provider)
    if client is None:
        abort(404, "That sign-in provider is not configured.")
    # A journey nobody else can know, before anything about this learner is said: every id in the
    # cookie that brought us here (the journey's too) may have been planted by someone else.
    session["journey_id"] = tracing.new_trace_id()
    tracing.continue_trace(session["journey_id"])
    try:
        user = auth.complete_sign_in(client)
    except auth.SignInFailed as exc:
        error = str(exc) if isinstance(exc, auth.SignInDeclined) else f"Sign-in failed: {exc}"
        return render_template("shop/signin.html", providers=auth.login_providers(current_app.config),
                               next=session.get("signin_next", ""), error=error), 400
    # A fresh session: only the cart and this sign-in's journey are carried over, never a CSRF
    # token, a shopper id or anything else that whoever handed this browser its cookie knows.
    next_path = safe_next(session.get("signin_next"))
    begin_sign_in(session, "shop", f"user:{user.id}", keep=("cart", "journey_id"))
    session["user_id"] = user.id
    tracing.continue_trace(session["journey_id"], owner=tracing.journey_owner(user.id))  # the journey is theirs now
    flash(f"Signed in as {user.name}.", "info")
    return redirect(next_path)


@bp.post("/signout")
def sign_out():
    """Clears the shop's session only: PayLab ID and the bank keep theirs."""
    if ConfirmForm().validate_on_submit():
        end_sign_in(session)
        flash("You are signed out of Veldt Market.", "info")
    return redirect(url_for("shop.catalogue"))


# --- catalogue and cart ---------------------------------------------------------

@bp.get("/")
def catalogue():
    return render_template("shop/catalogue.html", products=services.list_products(), form=QuantityForm())


@bp.get("/products/<public_id:slug>")
def product(slug):
    item = services.get_product(slug)
    if item is None:
        abort(404, "We do not sell that product (any more).")
    return render_template("shop/product.html", product=item, form=QuantityForm())


@bp.post("/cart/add/<public_id:slug>")
def cart_add(slug):
    form = QuantityForm()
    if not form.validate_on_submit() or not form.quantity.data:
        flash("Choose a quantity from 1 to 10.", "error")
        return redirect(request.referrer or url_for("shop.catalogue"))
    try:
        session["cart"] = services.add_to_cart(_cart(), slug, form.quantity.data)
        session.permanent = True
    except services.ShopError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Added {services.get_product(slug).name} to your cart.", "info")
    return redirect(url_for("shop.cart"))


@bp.get("/cart")
def cart():
    return render_template("shop/cart.html", summary=services.cart_summary(_cart()), form=QuantityForm(),
                           remove_form=ConfirmForm())


@bp.post("/cart/<public_id:slug>")
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


@bp.post("/cart/<public_id:slug>/remove")
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
@signin_required
def checkout_confirm():
    if (back := _require_cart()):
        return back
    form = ConfirmForm()
    if form.validate_on_submit():
        _checkout()["email"] = g.user.email
        _checkout_token()  # made here, before any tab can open the review page
        session.modified = True
        return redirect(url_for("shop.checkout_delivery"))
    return render_template("shop/checkout_confirm.html", form=form, step=0, summary=services.cart_summary(_cart()),
                           user=g.user)


@bp.route("/checkout/delivery", methods=["GET", "POST"])
@signin_required
def checkout_delivery():
    if (back := _require_cart()) or (back := _require_step("email", "shop.checkout_confirm")):
        return back
    chosen = _checkout().get("delivery", services.DEFAULT_DELIVERY_METHOD)
    form = DeliveryForm(data={"method": chosen} if request.method == "GET" else None)
    if form.validate_on_submit():
        _checkout()["delivery"] = form.method.data
        session.modified = True
        return redirect(url_for("shop.checkout_address"))
    if form.method.data not in DELIVERY_METHODS:
        form.method.data = chosen  # a refused answer: show the choice as it stands, checked and in the total
    # The summary totals the method shown as chosen (the courier preselected, at first), never "no delivery".
    return render_template("shop/checkout_delivery.html", form=form, step=1,
                           summary=services.cart_summary(_cart(), form.method.data),
                           options=services.delivery_options(_cart()))


@bp.route("/checkout/address", methods=["GET", "POST"])
@signin_required
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
@signin_required
def checkout_review():
    if (back := _require_cart()) or (back := _require_step("address", "shop.checkout_address")):
        return back
    return _render_review(PayForm(payment_token=_checkout_token()))


def _checkout_token():
    """This checkout's one token: every review page of it (a reload, a second tab) pays the same order.

    It is the order's checkout token and the bank's Idempotency-Key at once, so a
    cart becomes exactly one order and one payment request, whatever is replayed.
    """
    checkout = _checkout()
    if "token" not in checkout:
        checkout["token"] = services.new_payment_token()
        session.modified = True
    return checkout["token"]


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
@walkthrough_step("pay_now")
@signin_required
def checkout_pay():
    """Pay now: place the order (once per checkout) and ask the bank for the payment."""
    if (back := _require_step("address", "shop.checkout_address")):
        existing_token = request.form.get("payment_token", "")
        order = services.order_by_checkout_token(g.user, existing_token)
        return redirect(url_for("shop.order", order_id=order.id)) if order else back
    form = PayForm()
    if not form.validate_on_submit():
        if form.payment_token.errors:  # tampered with or missing: the page we answer with has the right one
            form.payment_token.data = _checkout_token()
            form.card_number.errors = [*form.card_number.errors, *form.payment_token.errors]
        return _render_review(form, 422)
    checkout = _checkout()
    try:
        services.validate_card_number(form.card_number.data)
        order = services.place_order(g.user, _shopper_id(), _checkout_token(), _cart(),
                                     checkout["delivery"], checkout["address"])
    except services.ShopError as exc:
        form.card_number.errors.append(exc.message)
        return _render_review(form, 422)
    session.pop("cart", None)
    session.pop("checkout", None)
    response = _pay(order, form.card_number.data, order.checkout_token)
    session["journey_id"] = tracing.new_trace_id()  # the next checkout is a journey of its own
    return response


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
    order = services.order_for_user(g.user, order_id)
    if order is None:
        abort(404, "No such order in your order history.")
    _continue_order_journey(order)
    return order


def _continue_order_journey(order):
    """What happens to an order (cancel, retry, a status check) belongs to the checkout that placed it."""
    if order.journey_id:
        tracing.continue_trace(order.journey_id, owner=tracing.journey_owner(order.user_id))


@bp.get("/orders/")
@signin_required
def orders():
    return render_template("shop/orders.html", orders=services.orders_for_user(g.user))


@bp.get("/orders/<int:order_id>")
@signin_required
def order(order_id):
    order = _own_order(order_id)
    return render_template("shop/order.html", order=order, status=services.order_status_payload(order),
                           bank_app_qr=qr_svg(current_app.config["BANK_APP_URL"]),
                           pay_form=PayForm(payment_token=services.new_payment_token()), cancel_form=ConfirmForm())


@bp.post("/orders/<int:order_id>/pay")
@walkthrough_step("pay_now")
@signin_required
def order_pay(order_id):
    """Try again after a decline, an expiry or an unreachable bank."""
    order = _own_order(order_id)
    form = PayForm()
    if not form.validate_on_submit():
        flash(next(iter(form.errors.values()))[0], "error")
        return redirect(url_for("shop.order", order_id=order.id))
    return _pay(order, form.card_number.data, form.payment_token.data)


@bp.post("/orders/<int:order_id>/cancel")
@walkthrough_step("cancel_click")
@signin_required
def order_cancel(order_id):
    order = _own_order(order_id)
    if not ConfirmForm().validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("shop.order", order_id=order.id))
    try:
        changed = services.cancel_payment(order, bank_client())
    except services.ShopError as exc:
        flash(exc.message, "error")
        changed = getattr(exc, "changed", False)
    if changed:  # each change is announced once: by whoever made it (here, or the bank's webhook)
        announce_order_status(order)
    return redirect(url_for("shop.order", order_id=order.id))


@bp.get("/api/orders/<int:order_id>/status")
@signin_required
def order_status(order_id):
    """The polling fallback: asks the bank when the socket is down, so the page still catches up."""
    order = services.order_for_user(g.user, order_id)
    if order is None:
        raise ApiError(404, "not_found", "No such order in your order history.")
    _continue_order_journey(order)
    if services.refresh_payment_from_bank(order, bank_client()):
        announce_order_status(order)
    return jsonify(services.order_status_payload(order))
