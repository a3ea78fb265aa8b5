#!/usr/bin/env python3
"""Watches an S3 prefix and notes when each key first appears (the RPO bench).

Lists s3://BUCKET/PREFIX with ListObjectsV2 (SigV4-signed here, standard
library only) every INTERVAL seconds until STOPFILE exists, and writes one
line "unix_seconds key" per key the first time it is listed. Keys under
.ferry/ are skipped. usage: rpo_probe.py ENDPOINT BUCKET PREFIX INTERVAL OUT STOPFILE
Credentials and region: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3sig  # noqa: E402

ENDPOINT, BUCKET, PREFIX, INTERVAL, OUT, STOP = sys.argv[1:7]
s3sig.ENDPOINT = ENDPOINT


def list_page(token):
    q = {"list-type": "2", "prefix": PREFIX, "max-keys": "1000"}
    if token:
        q["continuation-token"] = token
    status, raw = s3sig.request("GET", BUCKET, query=q)
    body = raw.decode()
    if status != 200:
        raise RuntimeError(f"ListObjectsV2: HTTP {status}")
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
