#!/usr/bin/env python3
"""A Portcullis hook receiver: Python 3 standard library only.

Verifies each request's Standard Webhooks signature, answers `sign_in`, `jwt` and
`session` with a small policy, and signs the answer with the request's own webhook-id
(Portcullis refuses any answer that is not signed that way).

    PORTCULLIS_HOOK_SECRET=whsec_... python3 receiver.py [PORT]

PORT defaults to $PORT, then 8787; 0 picks a free port. The first line on stdout is
`listening on http://HOST:PORT`. HOST is $HOST, default 127.0.0.1.
Point [hooks.sign_in], [hooks.jwt] and [hooks.session] at that URL, with the same secret.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 5 * 60
MAX_BODY = 1 << 20
ALLOWED_DOMAIN = "@example.com"
ADMIN_EMAIL = "admin@example.com"


def load_key(secret):
    """The HMAC key of a `whsec_<base64>` secret."""
    if not secret.startswith("whsec_"):
        raise ValueError("must start with whsec_")
    return base64.b64decode(secret[len("whsec_"):], validate=True)


def signature(key, msg_id, timestamp, body):
    """base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify(key, headers, body):
    """The request's webhook-id if one of its `v1,` signatures is ours and recent, else None."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        return None
    try:
        timestamp = int(timestamp)
    except ValueError:
        return None
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        return None
    expected = signature(key, msg_id, timestamp, body).encode()
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return msg_id
    return None


def policy(request):
    """The answer to one hook call, or None for a hook this receiver does not serve."""
    kind, data = request.get("type"), request.get("data") or {}
    if kind == "sign_in":
        user = data.get("user") or {}
        email = (data.get("email") or user.get("email") or "").lower()
        return {"decision": "allow" if email.endswith(ALLOWED_DOMAIN) else "deny"}
    if kind == "jwt":
        token = data["token"]
        if (token.get("email") or "").lower() == ADMIN_EMAIL:
            token["role"] = "admin"
        return {"token": token}
    if kind == "session":
        session, token = data["session"], data.get("token") or {}
        if "role" in token:
            session["role"] = token["role"]
        return {"session": session}
    return None


class Handler(BaseHTTPRequestHandler):
    key = b""

    def log_message(self, format, *args):  # quiet: no access log
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            return self.send_error(413)
        body = self.rfile.read(length)
        msg_id = verify(self.key, self.headers, body)
        if msg_id is None:
            print("refused: no valid signature", file=sys.stderr)
            return self.send_error(401)
        try:
            answer = policy(json.loads(body))
        except (ValueError, KeyError, TypeError, AttributeError):
            answer = None
        if answer is None:
            return self.send_error(400)
        payload = json.dumps(answer).encode()
        timestamp = int(time.time())
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("webhook-id", msg_id)  # the request's id: the answer is bound to it
        self.send_header("webhook-timestamp", str(timestamp))
        self.send_header("webhook-signature", "v1," + signature(self.key, msg_id, timestamp, payload))
        self.end_headers()
        self.wfile.write(payload)


def main():
    try:
        Handler.key = load_key(os.environ.get("PORTCULLIS_HOOK_SECRET", ""))
    except ValueError as error:  # binascii.Error too; neither repeats the secret
        sys.exit(f"bad PORTCULLIS_HOOK_SECRET: {error}")
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8787"))
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), port), Handler)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
