"""Behind a tunnel, X-Forwarded-* is trusted only when PROXY_FIX_HOPS says so."""
import shutil

import pytest
from flask import request

from ..support import make_app

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bank.tunnel.example", "X-Forwarded-For": "203.0.113.9"}


@pytest.mark.parametrize("hops, expected", [
    (0, ("http://localhost/", "127.0.0.1")),
    (1, ("https://bank.tunnel.example/", "203.0.113.9")),
])
def test_forwarded_headers_count_only_when_configured(tmp_path, seeded_instance, hops, expected):
    shutil.copytree(seeded_instance, tmp_path / "instance")
    app = make_app(tmp_path / "instance", PROXY_FIX_HOPS=hops)
    app.add_url_rule("/shop/test-where", "where", lambda: {"root": request.url_root, "addr": request.remote_addr})
    seen = app.test_client().get("/shop/test-where", headers=FORWARDED,
                                 environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_json()
    assert (seen["root"], seen["addr"]) == expected
