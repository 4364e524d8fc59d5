"""The bank's merchant API: the published contract the shop (or any merchant) calls.

Views are thin: they authenticate, hand the JSON to `services`, and turn
domain errors into the documented JSON errors.
"""
from authlib.oauth2 import OAuth2Error
from flask import current_app, jsonify, request

from ..common.errors import ApiError
from ..common.ratelimit import rate_limited
from ..extensions import csrf, db
from . import bp, notify, services
from .models import Merchant
from .oauth2 import authorization_server, require_merchant_token
from .openapi import openapi_document

ERROR_STATUS = {services.InvalidField: 422, services.NotFound: 404, services.Conflict: 409}


def _api_error(exc):
    status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 400)
    return ApiError(status, exc.code, exc.message)


def _authenticated_merchant():
    """The merchant whose bearer token (scope `payments`) came with this request."""
    try:
        token = require_merchant_token.acquire_token(["payments"])
    except OAuth2Error as error:
        require_merchant_token.raise_error_response(error)
    return db.session.get(Merchant, token.merchant_id)


@bp.post("/oauth/token")
@csrf.exempt
@rate_limited("RATELIMIT_TOKEN")
def issue_token():
    """Client credentials: a merchant trades its id and secret for a bearer token."""
    return authorization_server().create_token_response()


@bp.post("/api/v1/payment-requests")
@csrf.exempt
def create_payment_request():
    merchant = _authenticated_merchant()
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # absurdly nested JSON is malformed JSON, not a server error
        body = None
    if body is None:
        raise ApiError(400, "invalid_json", "The body must be JSON (Content-Type: application/json).")
    try:
        response, replayed = services.request_payment(
            merchant, request.headers.get("Idempotency-Key", ""), body, current_app.config["PAYMENT_TTL_SECONDS"])
    except services.BankError as exc:
        raise _api_error(exc) from None
    if not replayed:
        payment = services.payment_request_for_merchant(merchant, response["id"])
        notify.payment_request_created(payment)
    result = jsonify(response)
    result.status_code = 201
    result.headers["Location"] = f"{current_app.config['PUBLIC_URL']}/bank/api/v1/payment-requests/{response['id']}"
    if replayed:
        result.headers["Idempotent-Replayed"] = "true"
    return result


@bp.get("/api/v1/payment-requests/<request_id>")
def get_payment_request(request_id):
    merchant = _authenticated_merchant()
    try:
        return jsonify(services.payment_request_for_merchant(merchant, request_id).to_api())
    except services.BankError as exc:
        raise _api_error(exc) from None


@bp.post("/api/v1/payment-requests/<request_id>/cancel")
@csrf.exempt
def cancel_payment_request(request_id):
    merchant = _authenticated_merchant()
    try:
        payment = services.cancel_payment_request(merchant, request_id)
    except services.BankError as exc:
        raise _api_error(exc) from None
    notify.payment_request_changed(payment)
    return jsonify(payment.to_api())


@bp.get("/api/openapi.json")
def openapi():
    return jsonify(openapi_document(current_app.config["PUBLIC_URL"]))
