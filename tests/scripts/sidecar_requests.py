#!/usr/bin/env python3
"""Fetch URLs with `requests` through the proxy named by HTTP_PROXY (the sidecar).

Usage: sidecar_requests.py URL [URL...]
Prints one JSON line per URL: {"url", "status", "headers", "body"}.
Exits 3 with an install hint if `requests` is missing.
"""
import json
import os
import sys

try:
    import requests
except ImportError:
    print("python module `requests` is missing: pip install requests grpcio grpcio-tools", file=sys.stderr)
    sys.exit(3)


def main(urls):
    if not os.environ.get("HTTP_PROXY"):
        print("HTTP_PROXY is not set", file=sys.stderr)
        return 2
    session = requests.Session()
    # Only the environment's proxy settings: HTTP_PROXY, no NO_PROXY.
    session.trust_env = True
    for url in urls:
        response = session.get(url, timeout=20)
        print(json.dumps({
            "url": url,
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": response.text,
        }))
        sys.stdout.flush()
    # A body through the proxy too.
    if urls:
        payload = b"x" * 100_000
        response = session.post(urls[0].split("/echo")[0] + "/upload", data=payload, timeout=20)
        print(json.dumps({"url": "upload", "status": response.status_code, "headers": {}, "body": response.text}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
