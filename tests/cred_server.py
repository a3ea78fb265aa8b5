#!/usr/bin/env python3
"""Local stand-ins for the AWS credential endpoints this machine cannot reach.

Each hands out the given (real, RGW) keys as temporary credentials that
expire EXPIRES seconds after each request, and appends one line per
credential request to LOG. A small local server speaking the protocol, not
AWS itself.
  container  GET /creds (checks Authorization: TOKEN if TOKEN is given)
  imds       IMDSv2: PUT /latest/api/token, then GET .../security-credentials/[ROLE]
  sts        POST / Action=AssumeRoleWithWebIdentity (checks RoleArn and WebIdentityToken),
             or Action=AssumeRole (checks it is SigV4-signed for sts with KEY)
usage: cred_server.py MODE PORT KEY SECRET EXPIRES LOG [TOKEN]
PORT 0: the kernel picks a free one, written to LOG.port once listening.
"""
import datetime
import http.server
import os
import sys
import urllib.parse

MODE, PORT, KEY, SECRET, EXPIRES, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
TOKEN = sys.argv[7] if len(sys.argv) > 7 else ""


def expiry():
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=EXPIRES)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def log(what):
    with open(LOG, "a") as f:
        f.write(what + "\n")


class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body, ctype="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def creds_json(self):
        return ('{"Code":"Success","AccessKeyId":"%s","SecretAccessKey":"%s","Token":"",'
                '"Expiration":"%s"}' % (KEY, SECRET, expiry()))

    def do_PUT(self):
        if MODE == "imds" and self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(200, "imds-session-token", "text/plain")
        self.reply(403, "{}")

    def do_GET(self):
        if MODE == "container" and self.path == "/creds":
            if TOKEN and self.headers.get("Authorization") != TOKEN:
                return self.reply(401, "{}")
            log("container")
            return self.reply(200, self.creds_json())
        if MODE == "imds" and self.path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("X-aws-ec2-metadata-token") != "imds-session-token":
                return self.reply(401, "{}")
            role = self.path.rsplit("/", 1)[1]
            if not role:
                return self.reply(200, "dr-replicator\n", "text/plain")
            log("imds " + role)
            return self.reply(200, self.creds_json())
        self.reply(404, "{}")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        action = (form.get("Action") or [""])[0]
        if MODE == "sts" and action in ("AssumeRole", "AssumeRoleWithWebIdentity"):
            if action == "AssumeRole":
                # SigV4-signed with the source's keys (the unit test checks the signature
                # itself by signing again); here: signed for sts, with the source's key ID.
                auth = self.headers.get("Authorization", "")
                refused = not auth.startswith("AWS4-HMAC-SHA256 Credential=" + KEY + "/") or "/sts/aws4_request" not in auth
                why = ("SignatureDoesNotMatch", "not signed for sts")
            else:
                refused = form.get("WebIdentityToken") != [TOKEN] or not form.get("RoleArn")
                why = ("InvalidIdentityToken", "bad token")
            if refused:
                return self.reply(403, "<ErrorResponse><Error><Code>%s</Code><Message>%s</Message>"
                                  "</Error></ErrorResponse>" % why, "text/xml")
            log(("sts-assume " if action == "AssumeRole" else "sts ") + form["RoleArn"][0])
            return self.reply(200, "<%sResponse><%sResult><Credentials><AccessKeyId>%s</AccessKeyId>"
                              "<SecretAccessKey>%s</SecretAccessKey><SessionToken></SessionToken>"
                              "<Expiration>%s</Expiration></Credentials></%sResult></%sResponse>"
                              % (action, action, KEY, SECRET, expiry(), action, action), "text/xml")
        self.reply(400, "{}")

    def log_message(self, *a):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H)
with open(LOG + ".port.tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(LOG + ".port.tmp", LOG + ".port")  # whole, or not there
server.serve_forever()
