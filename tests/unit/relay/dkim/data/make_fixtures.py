#!/usr/bin/env python3
"""Makes the independent-signer fixtures of dkim_unit_tests with Debian's python3-dkim.

Run once by hand (not by the tests): fresh keys from openssl, a message signed
relaxed/relaxed by dkimpy with each, and the key records to verify them with. The tests
then check that smarthost's verifier accepts signatures it did not make.
"""
import base64
import subprocess
import dkim

MESSAGE = (
    b"Received: from client.example (client.example [192.0.2.1])\r\n"
    b"\tby relay.example with ESMTPSA; Mon, 7 Dec 2026 05:00:00 +0000\r\n"
    b"From: Alice Example <alice@shop.example>\r\n"
    b"To: bob@customer.test,\r\n  carol@customer.test\r\n"
    b"Subject:   An order \t confirmation  \r\n"
    b"Date: Mon, 7 Dec 2026 05:00:00 +0000\r\n"
    b"Message-ID: <order-1234@shop.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Thank you  for your order.   \r\n"
    b"\r\n"
    b"It ships\ttomorrow.\r\n"
    b"\r\n"
    b"\r\n"
)
HEADERS = [b"From", b"To", b"Subject", b"Date", b"Message-ID", b"MIME-Version",
           b"Content-Type", b"From"]


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, check=True, capture_output=True).stdout


rsa_pem = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
rsa_public = openssl("pkey", "-pubout", "-outform", "DER", data=rsa_pem)
ed_pem = openssl("genpkey", "-algorithm", "ED25519")
ed_der = openssl("pkey", "-outform", "DER", data=ed_pem)
ed_public = openssl("pkey", "-pubout", "-outform", "DER", data=ed_pem)[-32:]
ed_seed = base64.b64encode(ed_der[-32:])

for name, selector, key, algorithm, record in (
    ("rsa", b"indie", rsa_pem, b"rsa-sha256",
     b"v=DKIM1; k=rsa; p=" + base64.b64encode(rsa_public)),
    ("ed25519", b"indie-ed", ed_seed, b"ed25519-sha256",
     b"v=DKIM1; k=ed25519; p=" + base64.b64encode(ed_public)),
):
    signature = dkim.sign(MESSAGE, selector, b"shop.example", key, include_headers=HEADERS,
                          canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=algorithm)
    with open(f"independent_{name}.eml", "wb") as out:
        out.write(signature + MESSAGE)
    with open(f"independent_{name}.txt", "wb") as out:
        out.write(record + b"\n")
