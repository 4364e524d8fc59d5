"""Secrets never reach a stored trace: tokens, client secrets, PINs, passwords, codes hidden;
card numbers masked to their last 4 digits; webhook signatures shortened."""
import json
import re
from urllib.parse import parse_qsl, urlsplit

HIDDEN = "•••• (redacted)"
SECRET_FIELDS = {"access_token", "id_token", "refresh_token", "client_secret", "password", "pin", "code",
                 "code_verifier", "webhook_secret", "csrf_token", "token", "secret", "auth", "p256dh",
                 "client_assertion", "attestationobject", "signature", "authenticatordata", "clientdatajson",
                 "credential"}  # a passkey answer names the credential and its user (customer-<id>)
SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-csrftoken"}
CARD_NUMBER = re.compile(r"\b(\d[ -]?){8,15}(\d{4})\b")


def mask_card(text):
    return CARD_NUMBER.sub(lambda m: "•••• " + m.group(2), text)


def _redact_value(key, value):
    lowered = str(key).lower()
    if lowered in SECRET_FIELDS:
        return HIDDEN
    if lowered == "card_number":
        return "•••• " + re.sub(r"\D", "", str(value))[-4:]
    return redact(value)


def redact(value):
    """A copy of a JSON-like value with every secret hidden."""
    if isinstance(value, dict):
        return {k: _redact_value(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return mask_card(value)
    return value


def redact_headers(headers):
    result = {}
    for name, value in (headers or {}).items():
        lowered = name.lower()
        if lowered in SECRET_HEADERS:
            scheme = str(value).split(" ", 1)[0] if lowered in ("authorization", "proxy-authorization") else ""
            result[name] = f"{scheme} {HIDDEN}".strip() if scheme and " " in str(value) else HIDDEN
        elif lowered == "bank-signature":
            result[name] = re.sub(r"v1=([0-9a-f]{8})[0-9a-f]+", r"v1=\1…", str(value))
        else:
            result[name] = mask_card(str(value))
    return result


def redact_body(body):
    """Bodies arrive as dicts, JSON text, form-encoded text or bytes; the result is JSON-ready."""
    if body is None:
        return None
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        text = body.strip()
        if text.startswith(("{", "[")):
            try:
                return redact(json.loads(text))
            except ValueError:
                pass
        if "=" in text and "\n" not in text and " " not in text:
            return redact(dict(parse_qsl(text, keep_blank_values=True)))
        return mask_card(text[:2000])
    return redact(body)


# --- the card holder's identifiers are not the shopper's to see ------------------------------

CARD_HOLDER_ACCOUNT = "The card holder's account"


def redact_third_parties(kind, details):
    """A copy of `details` without the identifiers of people other than the journey's owner.

    A journey belongs to the shopper who checked out, but whoever types a card number
    causes messages to the card holder: a push to their phone, a debit of their account.
    The shopper may see that those happened, never where the phone is reachable (the push
    endpoint is the one thing a push service needs to deliver to it) nor whose account it is.
    """
    if kind == "http" and details.get("receiver") == "push":
        parsed = urlsplit(details.get("url") or "")
        response_headers = {k: v for k, v in (details.get("response_headers") or {}).items()
                            if k.lower() != "location"}  # the push service's id for the message
        # Nor what the push service answered, verbatim: a third party's text is not ours to show;
        # and a failure is named, never quoted (an HTTP library's message repeats the endpoint URL).
        return dict(details, url=f"{parsed.scheme}://{parsed.netloc}/{HIDDEN}", response_headers=response_headers,
                    response_body=None, error=_failure_kind(details.get("error")))
    if kind == "ledger":
        return dict(details, entries=[_anonymous_entry(entry) for entry in details.get("entries") or []])
    return details


def _failure_kind(error):
    if not error:
        return None
    text = str(error).lower()
    for words, kind in ((("timed out", "timeout"), "timed out"), (("refused",), "connection refused"),
                        (("ssl", "certificate"), "TLS error"), (("name or service", "resolve"), "unknown host")):
        if any(word in text for word in words):
            return kind
    return "no answer"


def _anonymous_entry(entry):
    if entry.get("kind") != "customer":
        return entry
    return dict(entry, account=CARD_HOLDER_ACCOUNT, account_number="•••• " + str(entry.get("account_number"))[-4:])
