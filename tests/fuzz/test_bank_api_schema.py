"""The merchant API against its own OpenAPI document: schemathesis, a real bearer token, real HTTP.

Every generated request, valid or not, must get a documented status code, content type,
headers and body, and never a 5xx. A request the document calls valid must be accepted
(so the document is never looser than the API: issue 8, point 13), and one it calls
invalid must be refused (so it is never stricter).

A schema cannot name the cards that exist or the webhook endpoints a merchant registered,
so valid cases carry the card number of a real customer and the merchant's registered
endpoint; half of them read or cancel a payment request that really exists.
"""
import itertools
import uuid

import pytest
import requests
import schemathesis
from schemathesis import GenerationMode
from jsonschema import Draft4Validator
from schemathesis.auths import apply_basic_auth
from sqlalchemy import select

from app.bank.models import Merchant
from app.bank.api.openapi import openapi_document
from app.extensions import db

from ..conftest import new_customer
from ..support import in_app_db
from .conftest import fuzz_settings

PLACEHOLDER_URL = "http://bank.invalid"
EXAMPLES_PER_OPERATION = 100  # plus schemathesis's own coverage cases: about 500 in all

# The document as the app builds it (its server URL is replaced by the fuzz server's at call time);
# `test_the_fuzzed_document_is_the_one_the_bank_serves` ties it to the live one.
schema = schemathesis.openapi.from_dict(openapi_document(PLACEHOLDER_URL))


class MerchantClient:
    """The seeded shop merchant of the fuzz server, as an API client."""

    def __init__(self, server):
        self.url = server.url + "/bank"
        self.client_id, self.secret = server.app.config["BANK_CLIENT_ID"], server.app.config["BANK_CLIENT_SECRET"]
        self.webhook_url = in_app_db(server, lambda: db.session.scalar(
            select(Merchant.callback_url).where(Merchant.client_id == self.client_id)))
        self.card = new_customer(server.app)[3]
        response = requests.post(f"{self.url}/oauth/token", auth=(self.client_id, self.secret), timeout=10,
                                 data={"grant_type": "client_credentials", "scope": "payments"})
        response.raise_for_status()
        self.token = response.json()["access_token"]
        self._turn = itertools.count()

    def create_payment_request(self):
        response = requests.post(f"{self.url}/api/v1/payment-requests", timeout=10, json={
            "amount": 1999, "currency": "ZAR", "card_number": self.card,
            "merchant_reference": f"fuzz-{uuid.uuid4().hex}"},  # one pending request per reference
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": uuid.uuid4().hex})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def make_it_real(self, case):
        """A valid case gets what no schema can generate: a real card, a registered endpoint, a real id."""
        callback_url = case.body.get("callback_url") if isinstance(case.body, dict) else None
        if isinstance(callback_url, str) and callback_url.startswith(("http://", "https://")):
            case.body["callback_url"] = self.webhook_url  # whatever the case, the bank never calls out of this machine
        if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
            return
        if isinstance(case.body, dict) and "card_number" in case.body:
            case.body["card_number"] = self.card
        if "id" in (case.path_parameters or {}) and next(self._turn) % 2 == 0:
            case.path_parameters["id"] = self.create_payment_request()

    def sign(self, case):
        """Put the real credentials where the auth providers below left their placeholders."""
        if (case.headers or {}).get("Authorization") == CLIENT_CREDENTIALS:
            apply_basic_auth(case, self.client_id, self.secret)
        elif (case.headers or {}).get("Authorization") == BEARER_TOKEN:
            case.headers["Authorization"] = f"Bearer {self.token}"


@pytest.fixture(scope="module")
def merchant(fuzz_server):
    return MerchantClient(fuzz_server)


# Schemathesis generates some cases (the examples) at collection, before any server runs, so its
# auth providers leave placeholders, which `MerchantClient.sign` fills in. Providers, not plain headers:
# schemathesis then knows to leave them off the cases that test a missing Authorization.
CLIENT_CREDENTIALS, BEARER_TOKEN = "Basic client-credentials-go-here", "Bearer token-goes-here"


@schema.auth().apply_to(path="/oauth/token")
class ClientSecretBasic:
    def get(self, case, context):
        return CLIENT_CREDENTIALS

    def set(self, case, placeholder, context):
        case.headers = {**(case.headers or {}), "Authorization": placeholder}


@schema.auth().skip_for(path="/oauth/token")
class BearerToken:
    def get(self, case, context):
        return BEARER_TOKEN

    def set(self, case, placeholder, context):
        case.headers = {**(case.headers or {}), "Authorization": placeholder}


@schema.parametrize()
@fuzz_settings(EXAMPLES_PER_OPERATION)
def test_the_merchant_api_keeps_to_its_openapi_document(case, merchant, case_tally):
    merchant.sign(case)
    merchant.make_it_real(case)
    case_tally.count(f"{case.meta.phase.name.value} phase, {case.meta.generation.mode.value}" if case.meta else None)
    case.call_and_validate(base_url=merchant.url)


@pytest.mark.parametrize("field, value", [("merchant_reference", ""), ("card_number", ""), ("callback_url", ""),
                                          ("description", "a\x00b"), ("merchant_reference", "order\n42")])
def test_what_the_api_refuses_the_document_refuses_too(fuzz_server, merchant, field, value):
    """Issue 8, point 13: `merchant_reference: ""` and `card_number: ""` passed the schema but got 422."""
    body = {"amount": 100, "currency": "ZAR", "card_number": merchant.card, "merchant_reference": "order-42",
            field: value}
    document = requests.get(f"{fuzz_server.url}/bank/api/openapi.json", timeout=10).json()
    schema_errors = list(Draft4Validator(document["components"]["schemas"]["CreatePaymentRequest"]).iter_errors(body))
    response = requests.post(f"{merchant.url}/api/v1/payment-requests", json=body, timeout=10, headers={
        "Authorization": f"Bearer {merchant.token}", "Idempotency-Key": uuid.uuid4().hex})
    assert schema_errors, f"the document accepts {field}={value!r}"
    assert response.status_code == 422 and field in response.json()["message"], response.text
