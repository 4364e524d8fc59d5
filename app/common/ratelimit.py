"""Rate limits (Flask-Limiter) on the doors people and bots hammer: sign-in, sign-up, token endpoints.

Views are marked with `rate_limited("CONFIG_KEY")`; `init_rate_limits` wraps them
with this app's own Limiter, so several apps in one process (the tests) never
share counters, and the limits come from configuration.
"""
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def rate_limited(config_key, methods=("POST",)):
    """Mark a view: limit it by client address to `app.config[config_key]`, e.g. "10 per minute"."""
    def mark(view):
        view.paylab_rate_limit = (config_key, tuple(methods))
        return view
    return mark


def init_rate_limits(app):
    limiter = Limiter(get_remote_address, app=app, storage_uri=app.config["RATELIMIT_STORAGE_URI"],
                      headers_enabled=True, key_prefix="paylab")
    for endpoint, view in list(app.view_functions.items()):
        spec = getattr(view, "paylab_rate_limit", None)
        if spec:
            config_key, methods = spec
            app.view_functions[endpoint] = limiter.limit(
                lambda key=config_key: app.config[key], methods=list(methods),
                error_message="Too many attempts. Wait a minute, then try again.")(view)
    app.extensions["paylab_limiter"] = limiter
    return limiter
