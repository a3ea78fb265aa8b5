#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the fault campaign (tests/fault_campaign.sh).

Listens on 127.0.0.1:PORT and forwards every request to UPSTREAM (the test
RGW) unchanged, Host header included, so SigV4 signatures stay valid. With
probability RATE a request instead meets one fault, chosen by a seeded RNG:
  503       answered "503 SlowDown" without being forwarded
  reset     forwarded, then the connection is reset before any answer
  truncate  forwarded, the answer cut off half way through its body
  flip      a GET's answer body with one byte flipped
  flip-up   a PUT's body with one byte flipped before it is forwarded
  delay     forwarded after 0.3 s
Counts of each fault go to stderr on exit. usage: fault_proxy.py PORT UPSTREAM RATE SEED
"""
import http.client
import http.server
import random
import signal
import socket
import struct
import sys
import threading
import time

PORT, UPSTREAM, RATE, SEED = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
UP_HOST, UP_PORT = UPSTREAM.replace("http://", "").rstrip("/").split(":")
rng = random.Random(SEED)
lock = threading.Lock()
counts = {}
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


def pick(method):
    with lock:
        if rng.random() >= RATE:
            return None
        faults = ["503", "reset", "truncate", "delay"]
        if method == "GET":
            faults.append("flip")
        if method == "PUT":
            faults.append("flip-up")
        f = rng.choice(faults)
        counts[f] = counts.get(f, 0) + 1
        return f


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reset(self):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def handle_any(self):
        n = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(n) if n else b""
        fault = pick(self.command)
        if fault == "503":
            msg = b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            if self.command != "HEAD":  # a HEAD answer never has a body
                self.wfile.write(msg)
            return
        if fault == "delay":
            time.sleep(0.3)
        if fault == "flip-up" and body:
            i = len(body) // 2
            body = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]
        up = http.client.HTTPConnection(UP_HOST, int(UP_PORT), timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        up.request(self.command, self.path, body=body if n else None, headers=headers)
        resp = up.getresponse()
        data = resp.read()
        up.close()
        if fault == "reset":
            self.reset()
            return
        if fault == "flip" and data and resp.status in (200, 206):
            i = len(data) // 2
            data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and (k.lower() != "content-length" or self.command == "HEAD"):
                self.send_header(k, v)
        if self.command == "HEAD":  # the object's length, as the server said it
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault == "truncate" and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.reset()
            return
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def report(*_):
    sys.stderr.write("fault_proxy: %s\n" % (" ".join("%s=%d" % kv for kv in sorted(counts.items())) or "no faults"))
    sys.exit(0)


signal.signal(signal.SIGTERM, report)
server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
server.serve_forever()
