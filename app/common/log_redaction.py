"""Keep codes, states and tokens out of the logs.

The request log prints each request line, query string included, and some query strings
carry secrets: the shop's `/shop/auth/<provider>/callback?code=…&state=…`, a `next=` that
holds a whole authorization request. A log file is read by more people, kept longer and
copied further than a database, so the values of sensitive names, and any value that looks
like a token whatever its name, are replaced before a record is written.
"""
import logging
import re
from urllib.parse import quote, unquote_plus

REDACTED = "[redacted]"
# A name part (between _ - .) that names a secret: code, state, access_token, client_secret …
SENSITIVE_NAME = re.compile(
    r"(?:^|[_\-.])(?:code|state|nonce|token|secret|password|passwd|pin|key|signature|sig|verifier|session|sid"
    r"|otp|ticket|assertion|credential|jwt|auth|authorization)s?(?:$|[_\-.])", re.IGNORECASE)
# An opaque value of 20 or more token characters: a code or a token, whatever it is called.
TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-~.+/=]{20,}")
QUERY = re.compile(r"\?([^\s\"']*)")
# Where requests are logged with their query string: Werkzeug's request log (the dev server
# and the test server), and urllib3's debug log of outgoing requests.
REQUEST_LOGGERS = ("werkzeug", "urllib3.connectionpool")


def _redact_value(name, value):
    decoded = unquote_plus(value)
    if SENSITIVE_NAME.search(unquote_plus(name)) or TOKEN_LIKE.fullmatch(decoded):
        return REDACTED
    if "?" in decoded:  # a URL inside a parameter (next=/idp/authorize?…&state=…)
        return quote(redact_urls(decoded), safe="/:[]")
    return value


def redact_query(query):
    """The query string with the values of sensitive or token-like parameters replaced."""
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        pairs.append(f"{name}={_redact_value(name, value)}" if equals and value else pair)
    return "&".join(pairs)


def redact_urls(text):
    """`text` with the query string of every URL or request target in it redacted."""
    return QUERY.sub(lambda match: "?" + redact_query(match.group(1)), text)


class RedactQueryStrings(logging.Filter):
    """A logging filter: redacts query strings in a record's message and its arguments."""

    def filter(self, record):
        if isinstance(record.msg, str):
            record.msg = redact_urls(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_urls(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def install_log_redaction():
    """Put the filter on every logger that logs request URLs (once, however often it is called)."""
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryStrings) for f in logger.filters):
            logger.addFilter(RedactQueryStrings())
