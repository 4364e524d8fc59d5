"""The OpenAPI 3 description of the merchant API, served at /bank/api/openapi.json."""

ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description):
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def openapi_document(public_url):
    payment_request = {
        "type": "object",
        "required": ["id", "status", "amount", "currency", "merchant_reference", "binding_code", "expires_at",
                     "created_at"],
        "properties": {
            "id": {"type": "string", "example": "pr_3kT9aQ"},
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
            "decided_at": {"type": "string", "format": "date-time"},
            "card_last4": {"type": "string", "pattern": "^[0-9]{4}$"},
            "decline_reason": {"type": "string",
                               "enum": ["customer_declined", "insufficient_funds", "card_blocked"]},
        },
    }
    create_body = {
        "type": "object",
        "required": ["amount", "currency", "card_number", "merchant_reference"],
        "properties": {
            "amount": {"type": "integer", "minimum": 1, "maximum": 100000000},
            "currency": {"type": "string", "enum": ["ZAR"]},
            "card_number": {"type": "string", "description": "A Luhn-valid Baobab Bank card number."},
            "merchant_reference": {"type": "string", "maxLength": 100},
            "description": {"type": "string", "maxLength": 200},
            "callback_url": {"type": "string", "format": "uri",
                             "description": "Where the webhook goes; defaults to the merchant's registered URL."},
        },
    }
    bearer = [{"bearer": ["payments"]}]
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Baobab Bank merchant API", "version": "1.0.0",
                 "description": "Ask a card holder to approve a payment in their banking app. Final states "
                                "are also sent to your callback_url as signed webhooks (header Bank-Signature: "
                                "t=<unix>,v1=<hex HMAC-SHA256(webhook_secret, \"<t>.<raw body>\")>)."},
        "servers": [{"url": f"{public_url}/bank"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "oauth2", "flows": {"clientCredentials": {
                    "tokenUrl": f"{public_url}/bank/oauth/token", "scopes": {"payments": "Request payments"}}}},
                "basic": {"type": "http", "scheme": "basic"},
            },
            "schemas": {
                "PaymentRequest": payment_request,
                "CreatePaymentRequest": create_body,
                "Error": {"type": "object", "required": ["error", "message"],
                          "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
                "Token": {"type": "object", "properties": {
                    "access_token": {"type": "string"}, "token_type": {"type": "string", "enum": ["Bearer"]},
                    "expires_in": {"type": "integer"}, "scope": {"type": "string"}}},
            },
        },
        "paths": {
            "/oauth/token": {"post": {
                "summary": "Get an access token (client credentials, client_secret_basic)",
                "security": [{"basic": []}],
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "required": ["grant_type"], "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "scope": {"type": "string", "example": "payments"}}}}}},
                "responses": {"200": {"description": "A bearer token",
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Token"}}}},
                              "400": _error("Bad grant or scope"), "401": _error("Bad client credentials")}}},
            "/api/v1/payment-requests": {"post": {
                "summary": "Ask the card holder to approve a payment",
                "security": bearer,
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True,
                                "schema": {"type": "string", "maxLength": 255},
                                "description": "Same key and body: the same answer, nothing new created. "
                                               "Same key, other body: 409."}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/CreatePaymentRequest"}}}},
                "responses": {"201": {"description": "Pending, waiting for the card holder",
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PaymentRequest"}}}},
                              "400": _error("Malformed JSON"), "401": _error("Missing or invalid token"),
                              "403": _error("Wrong scope"), "409": _error("Idempotency-Key reused with another body"),
                              "422": _error("Invalid field; the message names it"), "429": _error("Rate limited")}}},
            "/api/v1/payment-requests/{id}": {"get": {
                "summary": "The current state of one of your payment requests",
                "security": bearer, "parameters": [id_param],
                "responses": {"200": {"description": "The payment request",
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PaymentRequest"}}}},
                              "401": _error("Missing or invalid token"), "404": _error("Not found (or not yours)")}}},
            "/api/v1/payment-requests/{id}/cancel": {"post": {
                "summary": "Cancel a pending payment request",
                "security": bearer, "parameters": [id_param],
                "responses": {"200": {"description": "Cancelled",
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PaymentRequest"}}}},
                              "401": _error("Missing or invalid token"), "404": _error("Not found (or not yours)"),
                              "409": _error("Already final")}}},
        },
    }
