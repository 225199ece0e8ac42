#!/usr/bin/env python3
"""Sign one request with botocore (SigV4) or botocore + awscrt (SigV4A) and send it.

Used by tests/tests/peer_cross_check.rs as a signer that shares no code with
lattice-client. Payload signing is off, as for Lattice: the request carries a
signed `x-amz-content-sha256: UNSIGNED-PAYLOAD`.

Prints one JSON object: {"status": int, "headers": {name: [values]}, "body": str}.
Exit code 3 means a dependency is missing.
"""

import argparse
import http.client
import json
import socket
import ssl
import sys
from urllib.parse import urlsplit

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as error:
    print(f"botocore is not installed ({error}); run: pip install botocore awscrt", file=sys.stderr)
    sys.exit(3)

SIGNING_NAME = "vpc-lattice-svcs"


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to a fixed loopback address but keeps the service name for SNI and Host."""

    def __init__(self, host, port, address, context, timeout):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self):
        sock = socket.create_connection(self._address, self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="https://<service host>:<port>/path?query")
    parser.add_argument("--connect", required=True, help="loopback IP:PORT to connect to")
    parser.add_argument("--cacert", required=True, help="PEM file of the CA to trust")
    parser.add_argument("--algorithm", choices=["sigv4", "sigv4a"], default="sigv4")
    parser.add_argument("--region", required=True, help="region, or region set such as '*' for SigV4A")
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--secret-access-key", required=True)
    parser.add_argument("--session-token")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="")
    parser.add_argument("--timeout", type=float, default=10.0)
    return parser.parse_args()


def signer(args):
    credentials = Credentials(args.access_key_id, args.secret_access_key, args.session_token)
    if args.algorithm == "sigv4":
        return SigV4Auth(credentials, SIGNING_NAME, args.region)
    try:
        from botocore.crt.auth import CrtSigV4AsymAuth
    except ImportError as error:
        print(f"awscrt is not installed ({error}); run: pip install botocore awscrt", file=sys.stderr)
        sys.exit(3)
    return CrtSigV4AsymAuth(credentials, SIGNING_NAME, args.region)


def main():
    args = parse_args()
    url = urlsplit(args.url)
    body = args.body.encode() if args.body else None
    request = AWSRequest(method=args.method, url=args.url, data=body)
    # Both signers then send and sign `x-amz-content-sha256: UNSIGNED-PAYLOAD`
    # and use it as the payload hash (botocore/auth.py, botocore/crt/auth.py).
    request.context["payload_signing_enabled"] = False
    signer(args).add_auth(request)
    prepared = request.prepare()

    ip, _, port = args.connect.rpartition(":")
    context = ssl.create_default_context(cafile=args.cacert)
    connection = PinnedHTTPSConnection(
        url.hostname, url.port or 443, (ip.strip("[]"), int(port)), context, args.timeout
    )
    target = url.path or "/"
    if url.query:
        target += "?" + url.query
    try:
        connection.request(args.method, target, body=prepared.body, headers=dict(prepared.headers.items()))
        response = connection.getresponse()
        headers = {}
        for name, value in response.getheaders():
            headers.setdefault(name.lower(), []).append(value)
        result = {
            "status": response.status,
            "headers": headers,
            "body": response.read().decode("utf-8", "replace"),
        }
    finally:
        connection.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
