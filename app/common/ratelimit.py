"""Rate limits (Flask-Limiter) on the doors people and bots hammer: sign-in, sign-up, PIN checks, tokens.

Views are marked with `rate_limited("CONFIG_KEY", per=…)`; `init_rate_limits` wraps them
with this app's own Limiter, so several apps in one process (the tests) never
share counters, and the limits come from configuration.

An address alone is a poor key: a second address gets a fresh allowance, and a
classroom behind one address shares one. So a limit can be counted per
  - "address": the client address;
  - "account": the account a sign-in form names (its `account_field`), across every address;
  - "account+address": that account from that address, the bucket a genuine user has to themselves;
  - "signed-in": the principal of this server's session (the bank customer for a PIN check);
  - "client": the OAuth client a token request names (HTTP Basic, or the form's client_id), else the
    address: the shop's own server calls PayLab ID's token endpoint for every learner's sign-in, from one
    address, so an address bucket would cap a whole class's sign-ins;
  - "learner": the learner signed in to the shop, from pages of other servers that act for them (the
    attack lab), else the address.
"""
from flask import current_app, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from .sessions import load_server_session
from .signins import PRINCIPAL_KEYS



def rate_limited(config_key, methods=("POST",), per="address", account_field=None, failures_only=False,
                 account_key=None, counts=None):
    """Mark a view: limit it to `app.config[config_key]` (e.g. "10 per minute") per `per`.

    `failures_only` counts only answers that are not a redirect (a sign-in form that succeeded
    redirects), so a busy shared address is not locked out by its own successes; `counts(response)`
    chooses the answers that count instead;
    it checks before and counts after, so concurrent failures can overshoot it: never use it
    where the count is the defence (an account's tries). `account_key` turns the form's
    account field into the account it names, as the sign-in itself will (e.g. an email in
    its normalised form), so that another spelling of the same account is the same bucket.
    Limits per "signed-in" principal, and per "address, every door", are shared by every view marked
    with the same key: each PIN door draws on the customer's one allowance. Stack several marks for several limits.
    """
    def mark(view):
        specs = getattr(view, "paylab_rate_limits", [])
        view.paylab_rate_limits = [*specs, (config_key, tuple(methods), per, account_field,
                                            counts or (_not_a_redirect if failures_only else None), account_key)]
        return view
    return mark


def sign_in_limited(account_field, account_key=None):
    """The three limits of every sign-in door: tries per account and address, per account (counted
    before the password is checked, so guessing from many addresses gains nothing), and failed tries
    per address (so one address cannot spray many accounts)."""
    def mark(view):
        for config_key, per, failures_only in (("RATELIMIT_SIGNIN_ADDRESS", "address", True),
                                               ("RATELIMIT_SIGNIN_ACCOUNT", "account", False),
                                               ("RATELIMIT_SIGNIN", "account+address", False)):
            view = rate_limited(config_key, per=per, failures_only=failures_only,
                                account_field=None if per == "address" else account_field,
                                account_key=None if per == "address" else account_key)(view)
        return view
    return mark


def token_request_limited(view):
    """The two limits of a token endpoint: tokens granted per client (RATELIMIT_TOKEN), whichever address
    asks, and failed client authentications per address (RATELIMIT_TOKEN_ADDRESS), so one address cannot
    try secret after secret, or client after client.

    Neither counts what a stranger can make another's request do: a request naming the shop's (public)
    client id with a wrong secret is not the shop's, so it never uses the shop's allowance; and a bogus
    authorization code that a stranger makes the shop relay (via its sign-in callback) fails as
    invalid_grant (400), not as a client authentication (401), so the shop's own address is not locked.
    """
    view = rate_limited("RATELIMIT_TOKEN_ADDRESS", per="address", counts=_client_not_authenticated)(view)
    return rate_limited("RATELIMIT_TOKEN", per="client", counts=_granted)(view)


def _client_id():
    """The client a token request names: HTTP Basic's user, else the form's client_id (None if neither)."""
    auth = request.authorization
    client_id = (auth.username if auth and auth.type == "basic" else None) or request.form.get("client_id")
    return client_id[:100] if client_id else None


def _account(field, account_key=None):
    text = request.form.get(field) or ""
    if account_key is not None:
        try:
            return account_key(text)[:254]
        except Exception:  # not an account name at all: its raw form is its bucket
            pass
    return text.strip().lower()[:254]


def _signed_in():
    return next((f"{key}:{session[key]}" for key in PRINCIPAL_KEYS if session.get(key)), None)


def key_function(per, account_field, account_key=None):
    """The Flask-Limiter key for one kind of limit."""
    if per in ("address", "address, every door"):
        return lambda: f"addr:{get_remote_address()}"
    if per == "account":
        return lambda: f"acct:{_account(account_field, account_key)}"
    if per == "account+address":
        return lambda: f"acct-addr:{_account(account_field, account_key)}@{get_remote_address()}"
    if per == "signed-in":
        return lambda: f"principal:{_signed_in() or get_remote_address()}"
    if per == "learner":  # the learner signed in to the shop (a class shares one address), else the address
        return lambda: (f"learner:{user_id}" if (user_id := load_server_session(current_app, "shop").get("user_id"))
                        else f"addr:{get_remote_address()}")
    if per == "client":
        return lambda: (f"client:{client_id}" if (client_id := _client_id()) else f"addr:{get_remote_address()}")
    raise ValueError(f"unknown rate-limit key {per!r}")


def _not_a_redirect(response):
    return not 300 <= response.status_code < 400


def _client_not_authenticated(response):
    """OAuth's invalid_client: a wrong client id or secret (RFC 6749 §5.2 answers it with 401)."""
    return response.status_code == 401


def _granted(response):
    return 200 <= response.status_code < 300


def init_rate_limits(app):
    # With the store (Redis) away, fail open to counting in this process, with a logged warning: a
    # sign-in page must never answer 500 because the limits' store is away, and a guesser still meets a
    # limit (each process's own, until the store is back and takes over again).
    limiter = Limiter(get_remote_address, app=app, storage_uri=app.config["RATELIMIT_STORAGE_URI"],
                      headers_enabled=True, key_prefix="paylab", in_memory_fallback_enabled=True,
                      swallow_errors=True)
    for endpoint, view in list(app.view_functions.items()):
        wrapped = view
        for config_key, methods, per, account_field, failure, account_key in getattr(
                view, "paylab_rate_limits", []):
            options = dict(key_func=key_function(per, account_field, account_key), methods=list(methods),
                           deduct_when=failure,
                           error_message="Too many attempts. Wait a minute, then try again.")
            limit = lambda key=config_key: app.config[key]  # noqa: E731  (read at request time: tests change it)
            if per in ("signed-in", "address, every door"):  # one allowance for every view so marked
                wrapped = limiter.shared_limit(limit, scope=f"{config_key}:{per}", **options)(wrapped)
            else:
                wrapped = limiter.limit(limit, scope=f"{config_key}:{per}", **options)(wrapped)
        app.view_functions[endpoint] = wrapped
    app.extensions["paylab_limiter"] = limiter
    return limiter
