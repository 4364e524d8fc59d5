"""A local push service for the tests, speaking RFC 8030 / 8291 / 8292 as a real one does.

It hands out subscriptions (a P-256 key pair and a 16-byte auth secret per
subscription, as a browser makes them), verifies each message's VAPID JWT
(ES256 signed by the `k` key, `aud` = our origin, `exp` at most 24 h ahead, a
`sub`), requires TTL and `Content-Encoding: aes128gcm`, refuses bodies over
4096 bytes, and decrypts the body with the subscription's private key, as the
browser would. It can be told to answer 404, 410, 429 or 5xx (with a body of its
choosing, as a hostile endpoint would), or to hang: once, or for good (`hang_always`).
"""
import base64
import json
import secrets
import threading
import time
from collections import deque

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Rejected(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status, self.reason = status, reason


class LocalPushService:
    def __init__(self):
        self.server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.subscriptions = {}
        self.messages = []       # accepted, decrypted messages
        self.rejections = []     # (status, reason)
        self.requests_seen = []  # (sub_id, answered status) for every POST
        self.header_names_seen = []  # the lower-cased header names of every request, as a third party sees them
        self.hang_started = threading.Event()
        self.release_hang = threading.Event()
        self.hanging = set()     # sub ids that hang on every message until release_hang
        self.in_flight = {}      # sub id -> requests being answered right now
        self.most_in_flight = {}  # sub id -> the most requests it ever held at once
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.release_hang.set()
        self.server.shutdown()
        self.server.server_close()

    # --- what a browser does: subscribe ---------------------------------------------------
    def subscribe(self):
        """A new subscription: returns the browser's PushSubscription JSON ({endpoint, keys})."""
        sub_id = secrets.token_urlsafe(12)
        private_key = ec.generate_private_key(ec.SECP256R1())
        auth = secrets.token_bytes(16)
        public = private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                       serialization.PublicFormat.UncompressedPoint)
        self.subscriptions[sub_id] = {"private_key": private_key, "auth": auth, "script": deque()}
        return {"endpoint": f"{self.origin}/push/{sub_id}", "keys": {"p256dh": b64url(public), "auth": b64url(auth)}}

    def script(self, subscription, *answers):
        """Queue answers for the next messages: 404, 410, (429, retry_after), 503, "hang",
        or {"status": 500, "body": "…"} (an answer with a body)."""
        self.subscriptions[subscription["endpoint"].rsplit("/", 1)[1]]["script"].extend(answers)

    def hang_always(self, subscription):
        """Every message to this subscription hangs until `release_hang` is set (a hostile endpoint)."""
        self.hanging.add(subscription["endpoint"].rsplit("/", 1)[1])

    def requests_for(self, subscription):
        """How many POSTs reached this subscription (answered or still held)."""
        sub_id = subscription["endpoint"].rsplit("/", 1)[1]
        with self._lock:
            return sum(1 for seen, _ in self.requests_seen if seen == sub_id) + self.in_flight.get(sub_id, 0)

    def messages_for(self, subscription):
        sub_id = subscription["endpoint"].rsplit("/", 1)[1]
        return [m for m in self.messages if m["sub_id"] == sub_id]

    # --- what a push service does ---------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        sub_id = request.path.rsplit("/", 1)[-1]
        with self._lock:
            self.header_names_seen.append({name.lower() for name in request.headers.keys()})
        try:
            response = self._receive(request, sub_id)
        except Rejected as exc:
            with self._lock:
                self.rejections.append((exc.status, exc.reason))
            response = Response(json.dumps({"error": exc.reason}), status=exc.status, mimetype="application/json")
        with self._lock:
            self.requests_seen.append((sub_id, response.status_code))
        return response(environ, start_response)

    def _receive(self, request, sub_id):
        if request.method != "POST" or not request.path.startswith("/push/"):
            raise Rejected(405, "POST to a subscription endpoint")
        subscription = self.subscriptions.get(sub_id)
        if subscription is None:
            raise Rejected(404, "no such subscription")
        claims = self._verify_vapid(request.headers.get("Authorization", ""))
        ttl = request.headers.get("TTL")
        if ttl is None or not ttl.isdigit():
            raise Rejected(400, "TTL header required")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            raise Rejected(415, "Content-Encoding must be aes128gcm")
        body = request.get_data()
        if len(body) > 4096:
            raise Rejected(413, "payload over 4096 bytes")
        plain = http_ece.decrypt(body, private_key=subscription["private_key"], auth_secret=subscription["auth"],
                                 version="aes128gcm")
        answer = subscription["script"].popleft() if subscription["script"] else 201
        if answer == "hang" or sub_id in self.hanging:
            self._hold(sub_id)
            answer = 201
        if isinstance(answer, dict):
            return Response(answer["body"], status=answer["status"], mimetype="text/plain")
        if isinstance(answer, tuple):
            status, retry_after = answer
            return Response("slow down", status=status, headers={"Retry-After": str(retry_after)})
        if answer != 201:
            return Response(status=answer)
        with self._lock:
            self.messages.append({"sub_id": sub_id, "payload": json.loads(plain), "size": len(plain),
                                  "ttl": int(ttl), "urgency": request.headers.get("Urgency"),
                                  "topic": request.headers.get("Topic"), "claims": claims, "at": time.time()})
        return Response(status=201, headers={"Location": f"{self.origin}/message/{secrets.token_urlsafe(8)}"})

    def _hold(self, sub_id):
        """Hang this request until released, counting how many this subscription holds at once."""
        with self._lock:
            self.in_flight[sub_id] = self.in_flight.get(sub_id, 0) + 1
            self.most_in_flight[sub_id] = max(self.most_in_flight.get(sub_id, 0), self.in_flight[sub_id])
        self.hang_started.set()
        try:
            self.release_hang.wait(timeout=60)
        finally:
            with self._lock:
                self.in_flight[sub_id] -= 1

    def _verify_vapid(self, header):
        """RFC 8292: `vapid t=<JWT>, k=<public key>`; the JWT is ES256-signed by that key."""
        if not header.startswith("vapid "):
            raise Rejected(401, "Authorization must use the vapid scheme")
        params = dict(part.strip().split("=", 1) for part in header[6:].split(",") if "=" in part)
        token, key = params.get("t", ""), params.get("k", "")
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
            head_b64, claims_b64, signature_b64 = token.split(".")
            head, claims = json.loads(b64url_decode(head_b64)), json.loads(b64url_decode(claims_b64))
            signature = b64url_decode(signature_b64)
            assert head.get("alg") == "ES256" and len(signature) == 64
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except Exception as exc:  # any malformed or forged token is a 401, as a push service answers
            raise Rejected(401, f"VAPID token invalid: {type(exc).__name__}") from None
        now = time.time()
        if claims.get("aud") != self.origin:
            raise Rejected(403, "aud is not this push service")
        if not isinstance(claims.get("exp"), int) or not now < claims["exp"] <= now + 24 * 3600:
            raise Rejected(403, "exp must be in the future, at most 24 h ahead")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise Rejected(403, "sub must be mailto: or https:")
        return claims
