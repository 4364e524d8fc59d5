"""Error pages look like the site they belong to; API errors are JSON; nothing shows a stack trace."""
import pytest
from flask import abort

SITE_MARKERS = {"/shop": "Veldt Market", "/bank/app": "Baobab Bank", "/idp": "PayLab ID"}


@pytest.fixture
def failing_app(app):
    def boom():
        raise RuntimeError("secret internals: do not show")

    def forbidden():
        abort(403, "You may not look here.")

    for prefix in SITE_MARKERS:
        app.add_url_rule(f"{prefix}/test-boom", f"boom{prefix}", boom)
        app.add_url_rule(f"{prefix}/test-forbidden", f"forbidden{prefix}", forbidden)
    app.add_url_rule("/bank/api/test-boom", "api_boom", boom)
    return app


@pytest.mark.parametrize("prefix, marker", SITE_MARKERS.items())
@pytest.mark.parametrize("path, status", [("test-boom", 500), ("test-forbidden", 403), ("no-such-page", 404)])
def test_pages_fail_in_their_own_look(failing_app, client, prefix, marker, path, status):
    response = client.get(f"{prefix}/{path}")
    body = response.get_data(as_text=True)
    assert response.status_code == status
    assert marker in body and "<html" in body
    assert "Traceback" not in body and "secret internals" not in body


def test_api_failures_are_json_without_internals(failing_app, client):
    response = client.get("/bank/api/test-boom")
    assert response.status_code == 500
    assert response.get_json()["error"] == "server_error"
    assert "secret internals" not in response.get_data(as_text=True)
    assert client.get("/bank/api/v1/nothing").get_json()["error"] == "not_found"
    assert client.delete("/bank/oauth/token").get_json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("refusal, status, code", [
    ("NotFound", 404, "not_found"), ("Conflict", 409, "conflict"), ("InvalidField", 422, "invalid_field"),
    ("PinMissing", 422, "pin_required"), ("WrongPin", 403, "wrong_pin"), ("CardLocked", 403, "card_locked"),
    ("ReferencePending", 409, "reference_pending"),
])
def test_a_domain_refusal_carries_its_own_http_answer(refusal, status, code):
    """One mapping for every JSON view: a "not found" is a 404 wherever it is raised, never a 409."""
    from app.bank import cards, errors, services
    from app.common.errors import ApiError
    kind = next(getattr(module, refusal) for module in (errors, cards, services) if hasattr(module, refusal))
    answer = ApiError.from_domain(kind("Said in words."))
    assert (answer.status, answer.code, answer.message) == (status, code, "Said in words.")
