"""One signed session cookie per server: `shop_session`, `bank_session`, `idp_session`.

Flask has a single session cookie per app.  PayLab runs three "servers" in one
app, and signing in to one must never sign you in to another, so the cookie
name (and the signing salt) follow the server that owns the URL.  The Socket.IO
endpoint has one path for everyone, so its handlers load the right cookie
explicitly with `load_server_session`.
"""
from flask import current_app, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from .realtime import join_rooms
from .signins import PRINCIPAL_KEYS, is_signed_in, sign_in_room

PREFIXES_KEY = "paylab_session_prefixes"


def serve_sessions_under(app, prefix, server, session_name=None):
    """A server declares the URL prefix it owns, and the session cookie used under it.

    Each server names its own (common/ keeps no list of other servers' URLs). A prefix
    inside another gets a session of its own: the merchant portal under /bank/merchant
    must not join (or replace) the bank customer's session in the same browser.
    """
    app.extensions.setdefault(PREFIXES_KEY, {})[prefix] = (server, session_name or server)


def _owner_of(path, app=None):
    """(server, session name) of the longest declared prefix that `path` is under, or (None, None)."""
    prefixes = (app or current_app).extensions.get(PREFIXES_KEY, {})
    matches = [prefix for prefix in prefixes if path == prefix or path.startswith(prefix + "/")]
    return prefixes[max(matches, key=len)] if matches else (None, None)


def server_for_path(path, app=None):
    """Which server owns this URL path, or None for shared paths (static, socket.io)."""
    return _owner_of(path, app)[0]


def session_name_for_path(path, app=None):
    """Whose session cookie a URL path uses: its server's, or the merchant portal's."""
    return _owner_of(path, app)[1]


class PerServerSessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions whose cookie name and salt depend on the server."""

    def _server(self):
        return session_name_for_path(request.path) or "paylab"

    def open_session(self, app, request):
        """The signed cookie's session, or an empty one if its sign-in was ended (signed out, idle, revoked)."""
        session = super().open_session(app, request)
        if session is not None and not self._still_signed_in(app, self._server(), session):
            session = self.session_class()
            session.modified = True  # the dead cookie is deleted
        return session

    @staticmethod
    def _still_signed_in(app, server, session_data):
        """A session that names someone must hold an open sign-in; an anonymous one is fine as it is."""
        if not any(session_data.get(key) for key in PRINCIPAL_KEYS):
            return True
        prefix = server.upper()
        return is_signed_in(session_data, server, app.config.get(f"{prefix}_SESSION_IDLE_SECONDS", 0),
                            app.config.get(f"{prefix}_SESSION_MAX_SECONDS", 0))

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
            data = dict(self.get_signing_serializer(app, server).loads(value, max_age=max_age))
        except Exception:  # a bad or expired cookie is simply "not signed in"
            return {}
        return data if self._still_signed_in(app, server, data) else {}


def load_server_session(app, server):
    """The given server's session for the current request, e.g. in a Socket.IO connect handler."""
    return app.session_interface.load(app, server, request.cookies)


def admit_signed_in_socket(server, principal_key, room_of):
    """In a Socket.IO connect handler: join the room of whoever is signed in to `server` (`room_of` their
    id, from the session under `principal_key`) and their sign-in's room, which closes the socket when the
    sign-in ends. Refuse (False) a client signed in to nobody; the client never names a room."""
    session = load_server_session(current_app, server)
    principal = session.get(principal_key)
    if not principal:
        return False
    join_rooms(room_of(principal), sign_in_room(session))
    return None
