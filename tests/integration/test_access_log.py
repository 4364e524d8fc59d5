"""The access log of a running PayLab holds no authorization code or state (issue #8, point 12)."""
import logging

import requests

CODE = "Xq3kR9vLmP2sT8wYz4Ab6Cd1Ef5Gh7Jk"
STATE = "st4te-Vm8nB2xQ9wE3rT"


def test_the_request_log_of_a_live_server_holds_no_code_or_state(live, caplog, monkeypatch):
    """The attack: read the access log and replay the codes in it (30 were found there)."""
    logger = logging.getLogger("werkzeug")
    monkeypatch.setattr(logger, "disabled", False)  # alembic's logging set-up turns existing loggers off
    caplog.set_level(logging.INFO, logger="werkzeug")

    requests.get(f"{live.url}/shop/auth/paylab/callback", params={"code": CODE, "state": STATE}, timeout=10)

    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    logged = [line for line in lines if "/shop/auth/paylab/callback" in line]
    assert logged, f"the request was not logged: {lines}"
    assert not any(CODE in line or STATE in line for line in logged), logged
