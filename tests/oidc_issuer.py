#!/usr/bin/env python3
"""A local OpenID Connect issuer, so that RGW's own STS can be tested with a
real AssumeRoleWithWebIdentity (the token GitHub/GitLab OIDC or EKS would
give a pipeline). Standard library plus the openssl command line only.

usage: oidc_issuer.py init DIR                    key.pem, cert.pem, thumbprint (SHA-1 of the DER)
       oidc_issuer.py serve DIR PORT              http://127.0.0.1:PORT/.well-known/openid-configuration and /jwks
       oidc_issuer.py token DIR ISSUER AUD SUB TTL   prints an RS256 JWT signed with DIR/key.pem

RGW 16.2 reads the first key of the JWKS and needs its x5c (the certificate);
it ignores kid. This is a test stand-in, not an identity provider."""
import base64, hashlib, json, re, subprocess, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def init(d):
    import os
    os.makedirs(d, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/key.pem",
            "-out", f"{d}/cert.pem", "-days", "30", "-subj", "/CN=127.0.0.1")
    der = openssl("x509", "-in", f"{d}/cert.pem", "-outform", "DER")
    open(f"{d}/thumbprint", "w").write(hashlib.sha1(der).hexdigest().upper() + "\n")


def serve(d, port):
    der = openssl("x509", "-in", f"{d}/cert.pem", "-outform", "DER")
    modulus = openssl("x509", "-in", f"{d}/cert.pem", "-noout", "-modulus").decode()
    n = bytes.fromhex(re.sub(r"^Modulus=", "", modulus.strip()))
    issuer = f"http://127.0.0.1:{port}"
    jwks = {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "ferry-test-key",
                      "n": b64u(n), "e": "AQAB", "x5c": [base64.b64encode(der).decode()]}]}
    conf = {"issuer": issuer, "jwks_uri": issuer + "/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["id_token"], "subject_types_supported": ["public"]}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = {"/.well-known/openid-configuration": conf, "/jwks": jwks}.get(self.path.split("?")[0])
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            b = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def log_message(self, fmt, *a):
            sys.stderr.write("[oidc] " + (fmt % a) + "\n")

    srv = HTTPServer(("127.0.0.1", port), Handler)
    print("listening", flush=True)
    srv.serve_forever()


def token(d, iss, aud, sub, ttl):
    now = int(time.time())
    head = b64u(json.dumps({"alg": "RS256", "kid": "ferry-test-key", "typ": "JWT"}).encode())
    claims = {"iss": iss, "aud": aud, "sub": sub, "azp": aud, "iat": now, "nbf": now - 5, "exp": now + ttl}
    body = b64u(json.dumps(claims).encode())
    sig = openssl("dgst", "-sha256", "-sign", f"{d}/key.pem", data=f"{head}.{body}".encode())
    print(f"{head}.{body}.{b64u(sig)}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "init":
        init(sys.argv[2])
    elif cmd == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        token(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
