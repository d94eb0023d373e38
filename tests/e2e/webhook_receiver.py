#!/usr/bin/env python3
"""A webhook receiver for the end-to-end tests: listens on 127.0.0.1:PORT, verifies each
request's Standard Webhooks signature with the endpoint's secret on its own (hmac, base64:
nothing of smarthost's), and appends one JSON line per request to OUT:
{"id": webhook-id, "valid": true|false, "event": the parsed body}. Answers STATUS (204 by
default) to valid requests and 401 to invalid ones; STATUS 0 never answers (a receiver
that hangs).

usage: webhook_receiver.py PORT SECRET OUT [STATUS]
"""
import base64
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, SECRET, OUT = int(sys.argv[1]), sys.argv[2], sys.argv[3]
STATUS = int(sys.argv[4]) if len(sys.argv) > 4 else 204
KEY = base64.b64decode(SECRET[len("whsec_"):]) if SECRET.startswith("whsec_") else b""


def valid(msg_id, timestamp, body, header):
    if not msg_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    expected = base64.b64encode(
        hmac.new(KEY, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return any(
        part.startswith("v1,") and hmac.compare_digest(part[3:], expected)
        for part in header.split(" ")
    )


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        msg_id = self.headers.get("webhook-id", "")
        ok = valid(msg_id, self.headers.get("webhook-timestamp", ""), body,
                   self.headers.get("webhook-signature", ""))
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        with open(OUT, "a") as out:
            out.write(json.dumps({"id": msg_id, "valid": ok, "event": event}) + "\n")
        if STATUS == 0:
            time.sleep(3600)
        self.send_response(STATUS if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
