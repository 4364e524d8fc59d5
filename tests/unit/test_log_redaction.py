"""Authorization codes, states and tokens never reach the request log."""
from urllib.parse import quote

import pytest

from app.common.log_redaction import REDACTED, redact_urls

CODE = "Xq3kR9vLmP2sT8wYz4Ab6Cd1Ef5Gh7Jk"
STATE = "st4te-Vm8nB2xQ9wE3rT"


@pytest.mark.parametrize("line, kept", [
    (f"GET /shop/auth/paylab/callback?code={CODE}&state={STATE} HTTP/1.1", "/shop/auth/paylab/callback?"),
    (f"GET /idp/authorize?response_type=code&client_id=pid_1&state={STATE}&nonce=n0nce HTTP/1.1",
     "response_type=code"),
    (f"GET /idp/signin?next={quote(f'/idp/authorize?client_id=pid_1&state={STATE}', safe='')} HTTP/1.1",
     "/idp/signin?next="),
    (f"GET /x?payment_token=abc&access_token=abc&client_secret=abc&q={CODE} HTTP/1.1", "GET /x?"),
])
def test_secrets_in_query_strings_are_redacted(line, kept):
    redacted = redact_urls(line)
    assert CODE not in redacted and STATE not in redacted and "abc" not in redacted
    assert kept in redacted and REDACTED in redacted


def test_harmless_query_strings_are_kept():
    line = "GET /shop/?category=outdoor&page=2 HTTP/1.1"
    assert redact_urls(line) == line
