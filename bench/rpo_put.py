#!/usr/bin/env python3
"""The RPO bench's bucket workload: PUTs objects into s3://BUCKET/PREFIX at a
steady rate, as a primary region's pipelines would, and writes one line
"unix_seconds key" per object once its PUT has returned (the moment the
object exists at the source). PUTs are sent by 8 threads, each object at
its scheduled time, so a slow PUT (an RGW topic that waits for the broker)
does not lower the rate.

usage: rpo_put.py BUCKET PREFIX RATE SECONDS LARGE_BYTES OUT
Small objects of 1-64 KiB, RATE a second; one of LARGE_BYTES every 10 s.
Endpoint and credentials as bench/s3sig.py.
"""
import concurrent.futures
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3sig  # noqa: E402

BUCKET, PREFIX, RATE, SECONDS, LARGE, OUT = sys.argv[1], sys.argv[2], float(sys.argv[3]), \
    float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
lock = threading.Lock()
out = open(OUT, "w")


def put(key, body):
    status, _ = s3sig.request("PUT", BUCKET, PREFIX + key, body=body)
    if status != 200:
        print(f"rpo_put: PUT {key}: HTTP {status}", file=sys.stderr)
        return
    with lock:
        out.write(f"{time.time():.3f} {key}\n")
        out.flush()


t0 = time.time()
n = 0
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    while time.time() - t0 < SECONDS:
        time.sleep(max(0, t0 + n / RATE - time.time()))
        pool.submit(put, f"d{n // 200}/f{n}.bin", os.urandom(1024 + (n * 7919) % 64512))
        if n % int(RATE * 10) == int(RATE * 10) - 1:
            pool.submit(put, f"big{n}.bin", os.urandom(LARGE))
        n += 1
out.close()
