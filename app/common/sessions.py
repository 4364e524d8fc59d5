"""One signed session cookie per server: `shop_session`, `bank_session`, `idp_session`.

Flask has a single session cookie per app.  PayLab runs three "servers" in one
app, and signing in to one must never sign you in to another, so the cookie
name (and the signing salt) follow the server that owns the URL.  The Socket.IO
endpoint has one path for everyone, so its handlers load the right cookie
explicitly with `load_server_session`.
"""
from flask import request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

SERVER_PREFIXES = {"shop": "/shop", "bank": "/bank", "idp": "/idp", "walkthrough": "/walkthrough"}


def server_for_path(path):
    """Which server owns this URL path, or None for shared paths (static, socket.io)."""
    for server, prefix in SERVER_PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return server
    return None


class PerServerSessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions whose cookie name and salt depend on the server."""

    def _server(self):
        return server_for_path(request.path) or "paylab"

    def get_cookie_name(self, app):
        return f"{self._server()}_session"

    def get_signing_serializer(self, app, server=None):
        if not app.secret_key:
            return None
        server = server or self._server()
        return URLSafeTimedSerializer(
            app.secret_key,
            salt=f"{server}-session",
            serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method},
        )

    def get_cookie_secure(self, app):
        return app.config.get("PUBLIC_URL", "").startswith("https://")

    def load(self, app, server, cookies):
        """Read `server`'s session from the request cookies (read-only; for socket handlers)."""
        value = cookies.get(f"{server}_session")
        if not value:
            return {}
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            return dict(self.get_signing_serializer(app, server).loads(value, max_age=max_age))
        except Exception:  # a bad or expired cookie is simply "not signed in"
            return {}


def load_server_session(app, server):
    """The given server's session for the current request, e.g. in a Socket.IO connect handler."""
    return app.session_interface.load(app, server, request.cookies)
