"""The lab's page and its one action: thin views over `attacks`, for the learner signed in to the shop."""
from flask import current_app, jsonify, render_template, request

from ..common.errors import ApiError
from ..common.ratelimit import rate_limited
from ..walkthrough.routes import current_owner
from . import bp
from .attacks import ATTACKS, NeedsSetUp, run_attack
from .targets import latest_capture, latest_payment, payment_requests_for_order


def _learner():
    owner = current_owner()
    if owner is None:
        raise ApiError(401, "sign_in_first", "Sign in to the shop first: the lab attacks your own checkout only.")
    return owner


# What an attack may ask the learner to type in for the attacker, and its bounds (the bank's own form's).
INPUT_LIMITS = {"username": 40, "password": 200}


def _inputs(attack):
    """The JSON body's values for what `attack` asks for: text within bounds, no NUL, or a 422 naming it.
    Passed on to the attack and forgotten: never stored (the walkthrough's redaction hides a password)."""
    if not attack.asks_for or attack.runs_in != "server":  # a browser's attack sends its inputs itself
        return {}
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    inputs = {}
    for name in attack.asks_for:
        value = body.get(name)
        if not (isinstance(value, str) and 0 < len(value) <= INPUT_LIMITS[name] and "\x00" not in value):
            raise ApiError(422, "invalid_field", f"{name}: type your own bank app {name} "
                                                 f"(1 to {INPUT_LIMITS[name]} characters).")
        inputs[name] = value
    return inputs


@bp.get("/")
def index():
    if current_owner() is None:
        return render_template("walkthrough/signin_first.html"), 200
    return render_template("lab/lab.html", attacks=ATTACKS.values())


@bp.get("/api/targets")
def targets():
    """What the attacks can aim at: the learner's newest payment and whether a signed webhook was caught."""
    owner = _learner()
    payment, capture = latest_payment(owner), latest_capture(owner)
    return jsonify(payment={"order_id": payment.order_id, "reference": payment.order_reference,
                            "payment_id": payment.payment_id,
                            "payment_requests_for_the_order": payment_requests_for_order(owner, payment.order_reference),
                            "amount": payment.amount, "currency": payment.currency} if payment else None,
                   captured_webhook={"event_id": capture.event_id,
                                     "captured_at": capture.captured_at.isoformat() + "Z"} if capture else None)


@bp.post("/api/attacks/<public_id:slug>")
@rate_limited("RATELIMIT_LAB", per="learner")
def attack(slug):
    """Run one attack now, against the signed-in learner's own objects; the page shows the outcome."""
    owner = _learner()
    if slug not in ATTACKS:
        raise ApiError(404, "not_found", "No such attack.")
    try:
        outcome = run_attack(current_app.config, owner, slug, _inputs(ATTACKS[slug]))
    except NeedsSetUp as exc:
        raise ApiError(409, "needs_set_up", str(exc)) from None
    return jsonify(outcome.to_json())
