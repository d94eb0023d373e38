#!/usr/bin/env python3
"""An MTA-STS policy server for the end-to-end tests (RFC 8461 3.3): HTTPS on
ADDRESS:PORT, one certificate per policy host chosen by SNI, answering
GET /.well-known/mta-sts.txt with the host's policy as text/plain and 404 otherwise.

DIR holds one directory per policy host (mta-sts.example.test/) with cert.pem, key.pem
and mta-sts.txt; the policy file is read at each request, so a test may change it.

usage: mta_sts_server.py ADDRESS PORT DIR
"""
import os
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADDRESS, PORT, DIR = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def context_for(host):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(DIR, host, "cert.pem"), os.path.join(DIR, host, "key.pem"))
    return context


CONTEXTS = {host: context_for(host) for host in sorted(os.listdir(DIR))
            if os.path.isfile(os.path.join(DIR, host, "cert.pem"))}
DEFAULT = next(iter(CONTEXTS.values()))


def choose_certificate(sock, server_name, _context):
    if server_name in CONTEXTS:
        sock.context = CONTEXTS[server_name]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        path = os.path.join(DIR, host, "mta-sts.txt")
        if self.path != "/.well-known/mta-sts.txt" or host not in CONTEXTS \
                or not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with open(path, "rb") as policy:
            body = policy.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


DEFAULT.sni_callback = choose_certificate
server = ThreadingHTTPServer((ADDRESS, PORT), Handler)
server.socket = DEFAULT.wrap_socket(server.socket, server_side=True)
server.serve_forever()
