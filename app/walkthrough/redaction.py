"""Secrets never reach a stored trace: tokens, client secrets, PINs, passwords, codes hidden;
card numbers masked to their last 4 digits; webhook signatures shortened."""
import base64
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
                    response_body=None, error=_failure_kind(details.get("error")), push=describe_push(details),
                    request_body=f"({len(details.get('request_body') or b'')} bytes of aes128gcm ciphertext)")
    if kind == "ledger":
        return dict(details, entries=[_anonymous_entry(entry) for entry in details.get("entries") or []])
    return details


PUSH_PRIVACY = ("The bank encrypted this message with keys only the phone's browser holds (RFC 8291): the "
                "push service can deliver it, but cannot read it. The VAPID signature proves to the push "
                "service that the bank is the sender the subscription was made for.")
PUSH_HEADERS = ("content-encoding", "ttl", "urgency", "topic", "content-length")


def describe_push(details):
    """What a learner needs to see of a Web Push: the plaintext JSON the bank encrypted, the headers that
    steer it, the VAPID token's claims (its signature shortened), the ciphertext's size, and why the
    push service cannot read it."""
    headers = {name: value for name, value in (details.get("request_headers") or {}).items()
               if name.lower() in PUSH_HEADERS}
    authorization = next((value for name, value in (details.get("request_headers") or {}).items()
                          if name.lower() == "authorization"), "")
    plaintext = (details.get("notes") or {}).get("push_plaintext")
    try:
        plaintext = redact(json.loads(plaintext)) if plaintext else None
    except (TypeError, ValueError):
        plaintext = None
    return {"plaintext": plaintext, "headers": headers, "vapid": _vapid_token(authorization),
            "ciphertext_bytes": len(details.get("request_body") or b""), "why": PUSH_PRIVACY}


def _vapid_token(authorization):
    """`vapid t=<JWT>, k=<key>` → the JWT's header and claims, decoded, and its signature shortened."""
    match = re.search(r"t=([A-Za-z0-9_\-]+)\.([A-Za-z0-9_\-]+)\.([A-Za-z0-9_\-]+)", str(authorization))
    if not match:
        return None
    try:
        header, claims = (json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in match.groups()[:2])
    except (ValueError, TypeError):
        return None
    return {"scheme": str(authorization).split(" ", 1)[0], "header": header, "claims": claims,
            "signature": match.group(3)[:8] + "… (shortened)"}


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
