"""The OpenAPI 3 description of the merchant API, served at /bank/api/openapi.json.

The document is the contract, so the API holds to it exactly: the view validates each
request body against `CREATE_PAYMENT_REQUEST` before anything else looks at it, and the
schemathesis fuzz (tests/fuzz) checks that every answer is documented. What a schema
cannot say (a card's check digit, that the card exists, which webhook endpoints a
merchant registered) is checked by the bank's services and answered 422, as documented.
"""
from ...common.money import format_money
from ..services import MAX_AMOUNT

# Text a person or a merchant's system writes: no control characters (a NUL cannot even be
# stored in PostgreSQL), which also keeps them out of the customer's approval screen.
PLAIN_TEXT = "^[^\\u0000-\\u001f\\u007f]*$"
# Printable ASCII without spaces at either end: an HTTP header carries nothing else unchanged.
IDEMPOTENCY_KEY = "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$"
IDEMPOTENCY_KEY_MAX_LENGTH = 255
# 12 to 19 digits, which may be grouped by single spaces or dashes (they are ignored).
CARD_NUMBER = "^([0-9][ -]?){11,18}[0-9]$"
PAYMENT_REQUEST_ID = "^pr_[A-Za-z0-9_-]+$"

CREATE_PAYMENT_REQUEST = {
    "type": "object",
    "required": ["amount", "currency", "card_number", "merchant_reference"],
    "properties": {
        "amount": {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT,
                   "description": f"a whole number of cents (minor units) from 1 to {MAX_AMOUNT} "
                                  f"({format_money(MAX_AMOUNT)})."},
        "currency": {"type": "string", "enum": ["ZAR"], "description": "\"ZAR\": Baobab Bank pays in rand only."},
        "card_number": {"type": "string", "pattern": CARD_NUMBER,
                        "description": "the card holder's Baobab Bank card number: 12 to 19 digits (a single space "
                                       "or dash between them is ignored) with a valid check digit. A number no "
                                       "Baobab card has is also 422."},
        "merchant_reference": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": PLAIN_TEXT,
                               "description": "your own reference for the payment, such as an order number: "
                                              "1 to 100 characters, no control characters."},
        "description": {"type": "string", "maxLength": 200, "pattern": PLAIN_TEXT,
                        "description": "what the card holder sees in their banking app: at most 200 characters, "
                                       "no control characters."},
        "callback_url": {"type": "string", "maxLength": 500, "pattern": "^https?://[^\\s]+$",
                         "description": "where this payment's webhooks go: one of the webhook endpoints registered "
                                        "for your merchant account, exactly as registered (any other URL is 422). "
                                        "Leave it out for your account's default endpoint."},
    },
}

PAYMENT_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "status", "amount", "currency", "merchant_reference", "description", "binding_code",
                 "expires_at", "created_at", "card_last4"],
    "properties": {
        "id": {"type": "string", "pattern": PAYMENT_REQUEST_ID, "example": "pr_3kT9aQx1Lm0pZr2e"},
        "status": {"type": "string", "enum": ["pending", "approved", "declined", "expired", "cancelled"]},
        "amount": {"type": "integer", "minimum": 1, "description": "Minor units (cents)."},
        "currency": {"type": "string", "enum": ["ZAR"]},
        "merchant_reference": {"type": "string"},
        "description": {"type": "string"},
        "binding_code": {"type": "string", "pattern": "^[0-9]{4}$",
                         "description": "Shown on the shop's page and in the bank app, so the customer "
                                        "can check they approve this very payment."},
        "expires_at": {"type": "string", "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
        "decided_at": {"type": "string", "format": "date-time", "description": "Once the request is final."},
        "card_last4": {"type": "string", "pattern": "^[0-9]{4}$"},
        "decline_reason": {"type": "string", "enum": ["customer_declined", "insufficient_funds", "card_blocked"],
                           "description": "Only when the status is `declined`."},
    },
}

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A code for programs, such as `invalid_field`."},
        "message": {"type": "string", "description": "A sentence for people; for a 422 it names the field."},
        "error_description": {"type": "string", "description": "The token endpoint's OAuth 2.0 field."},
    },
}

TOKEN = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer", "minimum": 1},
        "scope": {"type": "string", "description": "The scopes granted: `payments` when asked for."},
    },
}


def _error(description, headers=None):
    response = {"description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if headers:
        response["headers"] = headers
    return response


def _payment_request(description, headers=None, links=None):
    response = {"description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PaymentRequest"}}}}
    if headers:
        response["headers"] = headers
    if links:
        response["links"] = links
    return response


BEARER_CHALLENGE = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer realm=\"bank\"`"}}
TOKEN_ERRORS = {
    "401": _error("Missing, invalid or expired access token", BEARER_CHALLENGE),
    "403": _error("The token lacks the `payments` scope"),
}


def openapi_document(public_url):
    bearer = [{"bearer": ["payments"]}]
    id_param = {"name": "id", "in": "path", "required": True,
                "schema": {"type": "string", "pattern": PAYMENT_REQUEST_ID, "maxLength": 40},
                "description": "The `id` of a payment request you created. Any other is 404."}
    created_links = {
        "GetPaymentRequest": {"operationId": "getPaymentRequest", "parameters": {"id": "$response.body#/id"}},
        "CancelPaymentRequest": {"operationId": "cancelPaymentRequest", "parameters": {"id": "$response.body#/id"}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Baobab Bank merchant API", "version": "1.0.0",
                 "description": "Ask a card holder to approve a payment in their banking app. Final states "
                                "are also sent to your registered webhook endpoint as signed webhooks (header "
                                "Bank-Signature: t=<unix>,v1=<hex HMAC-SHA256(webhook_secret, \"<t>.<raw body>\")>). "
                                "Every error is JSON: {\"error\": code, \"message\": sentence}."},
        "servers": [{"url": f"{public_url}/bank"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "oauth2", "flows": {"clientCredentials": {
                    "tokenUrl": f"{public_url}/bank/oauth/token", "scopes": {"payments": "Request payments"}}}},
                "basic": {"type": "http", "scheme": "basic",
                          "description": "Your client id and client secret (client_secret_basic)."},
            },
            "schemas": {"PaymentRequest": PAYMENT_REQUEST, "CreatePaymentRequest": CREATE_PAYMENT_REQUEST,
                        "Error": ERROR, "Token": TOKEN},
        },
        "paths": {
            "/oauth/token": {"post": {
                "operationId": "getToken",
                "summary": "Get an access token (client credentials, client_secret_basic)",
                "security": [{"basic": []}],
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "required": ["grant_type"], "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "scope": {"type": "string", "example": "payments",
                                  "description": "Ask for `payments`: a token without it is refused (403)."}}}}}},
                "responses": {
                    "200": {"description": "A bearer token",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Token"}}}},
                    "400": _error("Missing or unsupported grant type, or a malformed request"),
                    "401": _error("Bad client credentials", {"WWW-Authenticate": {"schema": {"type": "string"}}}),
                    "413": _error("The body is larger than 1 MiB"),
                    "429": _error("Rate limited: wait a minute")}}},
            "/api/v1/payment-requests": {"post": {
                "operationId": "createPaymentRequest",
                "summary": "Ask the card holder to approve a payment",
                "security": bearer,
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True,
                                "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
                                           "pattern": IDEMPOTENCY_KEY},
                                "description": "1 to 255 printable ASCII characters, unique per payment. Same key "
                                               "and body: the same answer, nothing new created. Same key, other "
                                               "body: 409. Missing or malformed: 422."}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/CreatePaymentRequest"}}}},
                "responses": {
                    "201": _payment_request("Pending, waiting for the card holder (or already declined, "
                                            "`card_blocked`, when the card is blocked)", {
                        "Location": {"required": True, "schema": {"type": "string"},
                                     "description": "The payment request's URL"},
                        "Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]},
                                                "description": "Present when this is the stored answer "
                                                               "to an earlier request with the same key"}},
                        links=created_links),
                    "400": _error("The body is not JSON (send Content-Type: application/json)"),
                    **TOKEN_ERRORS,
                    "409": _error("Idempotency-Key reused with another body (`conflict`), or a request for "
                                  "this merchant_reference is already pending (`reference_pending`): it must be "
                                  "approved, declined, cancelled or expire first"),
                    "413": _error("The body is larger than 1 MiB"),
                    "422": _error("Invalid field or Idempotency-Key; the message names it")}}},
            "/api/v1/payment-requests/{id}": {"get": {
                "operationId": "getPaymentRequest",
                "summary": "The current state of one of your payment requests",
                "security": bearer, "parameters": [id_param],
                "responses": {"200": _payment_request("The payment request"), **TOKEN_ERRORS,
                              "404": _error("Not found (or not yours)")}}},
            "/api/v1/payment-requests/{id}/cancel": {"post": {
                "operationId": "cancelPaymentRequest",
                "summary": "Cancel a pending payment request",
                "security": bearer, "parameters": [id_param],
                "responses": {"200": _payment_request("Cancelled"), **TOKEN_ERRORS,
                              "404": _error("Not found (or not yours)"), "409": _error("Already final")}}},
        },
    }
