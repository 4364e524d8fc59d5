"""What an OAuth parameter may hold, checked at the edge before Authlib or the database sees it.

RFC 6749 Appendix A gives each parameter a grammar: client_id and state are printable ASCII
(VSCHAR), scope tokens NQCHAR, response_type letters, digits and "_", redirect_uri a URI.
Anything else is refused with a 4xx here, for three reasons:
- Authlib puts some values (redirect_uri, response_type) into an error description, and
  refuses (with a ValueError, so a 500) a description that holds a character outside ASCII;
- PostgreSQL refuses a NUL byte in text, so a NUL in a code or client id must never reach a query;
- nothing honest sends them: clients generate these values, and they are ASCII.
"""
import base64
import binascii
import re
from urllib.parse import unquote

VSCHAR = r"\x20-\x7e"
NQCHAR = r"\x21\x23-\x5b\x5d-\x7e"
URI_CHARS = r"A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%"  # RFC 3986: unreserved, reserved and pct-encoded

GRAMMARS = {
    "response_type": re.compile(r"[A-Za-z0-9_]+( [A-Za-z0-9_]+)*"),
    "grant_type": re.compile(rf"[{URI_CHARS}]+"),
    "scope": re.compile(rf"[{NQCHAR}]+( +[{NQCHAR}]+)*"),
    "redirect_uri": re.compile(rf"[{URI_CHARS}]*"),
    "code_challenge": re.compile(r"[A-Za-z0-9\-._~]*"),
    "code_verifier": re.compile(r"[A-Za-z0-9\-._~]*"),
}
# OAuth and OpenID Connect values a client generates or was given: printable ASCII only.
PRINTABLE_ASCII = re.compile(rf"[{VSCHAR}]*")
PRINTABLE_ASCII_NAMES = {"client_id", "client_secret", "state", "nonce", "code", "code_challenge_method", "prompt",
                         "max_age", "display", "response_mode", "ui_locales", "acr_values", "id_token_hint"}
# Any other field (a consent form's csrf_token, login_hint, claims ...) may be text, never control characters.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


SHOWABLE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,40}")


class MalformedParameter(ValueError):
    """A parameter breaks its grammar. Its name is shown only when it is a plain name: an
    OAuth error_description may not hold `"` or `\\` (RFC 6749 §5.2), nor can a name be trusted."""

    def __init__(self, name):
        name = name if SHOWABLE_NAME.fullmatch(name) else "unnamed"
        super().__init__(f"The '{name}' parameter holds characters it may not hold.")
        self.name = name


def check_parameter(name, value):
    """Raise MalformedParameter unless `value` fits what the parameter `name` may hold."""
    grammar = GRAMMARS.get(name) or (PRINTABLE_ASCII if name in PRINTABLE_ASCII_NAMES else None)
    if grammar is not None:
        if not grammar.fullmatch(value):
            raise MalformedParameter(name)
    elif CONTROL_CHARACTERS.search(value):
        raise MalformedParameter(name if PRINTABLE_ASCII.fullmatch(name) else "unnamed")


def check_parameters(multidicts):
    """Check every value (repeated ones too) of every name in the request's query and form."""
    for values in multidicts:
        for name, value in values.items(multi=True):
            if CONTROL_CHARACTERS.search(name) or not name.isascii():
                raise MalformedParameter("unnamed")
            check_parameter(name, value)


def parse_basic_credentials(authorization):
    """(client_id, client_secret) from `Authorization: Basic …`, or (None, None) if it is malformed.

    RFC 6749 §2.3.1: base64 of the form-urlencoded id and secret, joined by ":". A header
    that is not base64, not UTF-8, lacks the ":" or decodes to characters outside VSCHAR is
    simply no credentials (so the client is unauthenticated: 401 invalid_client).
    """
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip().isascii():
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        client_id, colon, client_secret = decoded.partition(":")
        client_id, client_secret = unquote(client_id, errors="strict"), unquote(client_secret, errors="strict")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    if not colon:
        return None, None
    if not (PRINTABLE_ASCII.fullmatch(client_id) and PRINTABLE_ASCII.fullmatch(client_secret)):
        return None, None
    return client_id, client_secret
