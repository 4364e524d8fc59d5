"""The bank's merchant API views: the published contract the shop (or any merchant) calls.

Views are thin: they authenticate, hold the request to the published OpenAPI
document and hand the JSON to `services`; the blueprint answers domain refusals.
"""
import json
import re

from authlib.oauth2 import OAuth2Error
from flask import current_app, jsonify, request
from jsonschema import Draft4Validator, ValidationError, validators

from ...common.errors import ApiError
from ...common.ratelimit import token_request_limited
from ...common.tracing import walkthrough_step
from ...extensions import db
from .. import notify, services
from ..models import Merchant
from . import bp
from .oauth2 import authorization_server, require_merchant_token
from .openapi import CREATE_PAYMENT_REQUEST, IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_MAX_LENGTH, openapi_document

def _ecma_pattern(validator, pattern, instance, schema):
    """`pattern` as JSON Schema means it (ECMA-262): a final `$` is the end of the text.

    Python's `$` also matches before a trailing newline, which would let "ref\n" through.
    """
    if validator.is_type(instance, "string") and not re.search(re.sub(r"(?<!\\)\$$", r"\\Z", pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# OpenAPI 3.0's schemas are JSON Schema draft 4 (where 1.0 is not an integer, as for the services).
CREATE_BODY_VALIDATOR = validators.extend(Draft4Validator, {"pattern": _ecma_pattern})(CREATE_PAYMENT_REQUEST)
IDEMPOTENCY_KEY_FORMAT = re.compile(IDEMPOTENCY_KEY)


def _authenticated_merchant():
    """The merchant whose bearer token (scope `payments`) came with this request."""
    try:
        token = require_merchant_token.acquire_token(["payments"])
    except OAuth2Error as error:
        require_merchant_token.raise_error_response(error)
    return db.session.get(Merchant, token.merchant_id)


def _json_body():
    """The request's JSON, or a 400: not JSON, absurdly nested, or text that is not Unicode."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # absurdly nested JSON is malformed JSON, not a server error
        body = None
    if body is None:
        raise ApiError(400, "invalid_json", "The body must be JSON (Content-Type: application/json).")
    try:  # JSON may escape half a surrogate pair ("\ud800"), which no database can store
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ApiError(400, "invalid_json", "The body holds text that is not valid Unicode.") from None
    return body


def _check_against_document(body, idempotency_key):
    """Refuse, as the published document says (422 naming the field), what it does not allow.

    So the document is never looser than the API: whatever passes its schema
    reaches the services, which check only what a schema cannot express.
    """
    if not (len(idempotency_key) <= IDEMPOTENCY_KEY_MAX_LENGTH and IDEMPOTENCY_KEY_FORMAT.fullmatch(idempotency_key)):
        raise ApiError(422, "invalid_field", "The Idempotency-Key header is required: 1 to 255 printable ASCII "
                                             "characters, unique per payment.")
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_field", "The body must be a JSON object.")
    error = next(iter(sorted(CREATE_BODY_VALIDATOR.iter_errors(body), key=lambda e: list(e.path))), None)
    if error is None:
        return
    properties = CREATE_PAYMENT_REQUEST["properties"]
    if error.path:
        field = str(error.path[0])
        raise ApiError(422, "invalid_field", f"Invalid {field}: {properties[field]['description']}")
    missing = next(name for name in CREATE_PAYMENT_REQUEST["required"] if name not in body)
    raise ApiError(422, "invalid_field", f"{missing} is required: {properties[missing]['description']}")


@bp.post("/oauth/token")
@walkthrough_step("bank_token")
@token_request_limited
def issue_token():
    """Client credentials: a merchant trades its id and secret for a bearer token."""
    return authorization_server().create_token_response()


@bp.post("/api/v1/payment-requests")
@walkthrough_step("payment_request")
def create_payment_request():
    merchant = _authenticated_merchant()
    body = _json_body()
    idempotency_key = request.headers.get("Idempotency-Key", "")
    _check_against_document(body, idempotency_key)
    response, replayed = services.request_payment(
        merchant, idempotency_key, body, current_app.config["PAYMENT_TTL_SECONDS"], app_url=notify.bank_app_url())
    result = jsonify(response)
    result.status_code = 201
    result.headers["Location"] = f"{current_app.config['PUBLIC_URL']}/bank/api/v1/payment-requests/{response['id']}"
    if replayed:
        result.headers["Idempotent-Replayed"] = "true"
    return result


@bp.get("/api/v1/payment-requests/<public_id:request_id>")
@walkthrough_step("payment_status")
def get_payment_request(request_id):
    merchant = _authenticated_merchant()
    return jsonify(services.payment_request_for_merchant(merchant, request_id).to_api())


@bp.post("/api/v1/payment-requests/<public_id:request_id>/cancel")
@walkthrough_step("cancel")
def cancel_payment_request(request_id):
    merchant = _authenticated_merchant()
    return jsonify(services.cancel_payment_request(merchant, request_id).to_api())


@bp.get("/api/openapi.json")
def openapi():
    return jsonify(openapi_document(current_app.config["PUBLIC_URL"]))
