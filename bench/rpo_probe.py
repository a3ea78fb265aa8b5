#!/usr/bin/env python3
"""Watches an S3 prefix and notes when each key first appears (the RPO bench).

Lists s3://BUCKET/PREFIX with ListObjectsV2 (SigV4-signed here, standard
library only) every INTERVAL seconds until STOPFILE exists, and writes one
line "unix_seconds key" per key the first time it is listed. Keys under
.ferry/ are skipped. usage: rpo_probe.py ENDPOINT BUCKET PREFIX INTERVAL OUT STOPFILE
Credentials and region: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.
"""
import datetime
import hashlib
import hmac
import os
import re
import sys
import time
import urllib.parse
import urllib.request

ENDPOINT, BUCKET, PREFIX, INTERVAL, OUT, STOP = sys.argv[1:7]
KEY, SECRET = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
HOST = urllib.parse.urlparse(ENDPOINT).netloc


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def list_page(token):
    q = {"list-type": "2", "prefix": PREFIX, "max-keys": "1000"}
    if token:
        q["continuation-token"] = token
    query = "&".join(f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}"
                     for k, v in sorted(q.items()))
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(b"").hexdigest()
    headers = f"host:{HOST}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n"
    signed = "host;x-amz-content-sha256;x-amz-date"
    canonical = f"GET\n/{BUCKET}\n{query}\n{headers}\n{signed}\n{payload}"
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    k = sign(sign(sign(sign(("AWS4" + SECRET).encode(), day), REGION), "s3"), "aws4_request")
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(f"{ENDPOINT}/{BUCKET}?{query}", headers={
        "x-amz-date": amz_date, "x-amz-content-sha256": payload,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={KEY}/{scope}, SignedHeaders={signed}, Signature={sig}"})
    body = urllib.request.urlopen(req, timeout=30).read().decode()
    keys = re.findall(r"<Key>([^<]*)</Key>", body)
    nxt = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", body)
    return keys, (nxt.group(1) if nxt and "<IsTruncated>true</IsTruncated>" in body else None)


seen = set()
with open(OUT, "w") as out:
    while not os.path.exists(STOP):
        t = time.time()
        token, keys = None, []
        try:
            while True:
                page, token = list_page(token)
                keys += page
                if not token:
                    break
        except Exception as e:  # the bench goes on; a gap shows as latency
            print(f"rpo_probe: {e}", file=sys.stderr)
        listed = time.time()  # every key below was visible by now: latency is not under-reported
        for k in keys:
            if k not in seen and "/.ferry/" not in "/" + k:
                seen.add(k)
                out.write(f"{listed:.3f} {k}\n")
        out.flush()
        time.sleep(max(0, float(INTERVAL) - (time.time() - t)))
