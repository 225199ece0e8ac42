#!/usr/bin/env python3
"""Recompute signatures made by lattice-client with botocore, an independent signer.

Reads {"cases": [{name, method, url, headers: [[name, value], ...], access_key_id,
secret_access_key}]} on stdin; prints {"results": [{name, ok, detail}]} on stdout.

SigV4: botocore's SigV4Auth rebuilds the canonical request, string to sign and HMAC
signature, which must equal the one in the Authorization header byte for byte.
SigV4A: botocore builds the canonical request; the ECDSA P-256 signature is verified with
`cryptography` against the public key derived from the credentials (SigV4A KDF).
"""
import hashlib
import hmac
import json
import sys

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.compat import HTTPHeaders
    from botocore.credentials import Credentials
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
except ImportError as e:  # the Rust test turns this into a failure with the fix
    print(f"missing python package ({e}): pip install -r tests/requirements.txt", file=sys.stderr)
    sys.exit(3)

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def v4a_private_key(access_key_id, secret):
    """SigV4A key derivation (NIST SP 800-108 counter mode, HMAC-SHA256)."""
    key = b"AWS4A" + secret.encode()
    for counter in range(1, 255):
        data = (b"\x00\x00\x00\x01" + b"AWS4-ECDSA-P256-SHA256" + b"\x00"
                + access_key_id.encode() + bytes([counter]) + b"\x00\x00\x01\x00")
        k0 = int.from_bytes(hmac.new(key, data, hashlib.sha256).digest(), "big")
        if k0 <= P256_N - 2:
            return ec.derive_private_key(k0 + 1, ec.SECP256R1())
    raise ValueError("no valid key after 254 counters")


def parse_authorization(value):
    algorithm, _, rest = value.partition(" ")
    fields = {}
    for part in rest.split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    return algorithm, fields["Credential"].split("/"), fields["SignedHeaders"].split(";"), fields["Signature"]


def check(case):
    headers = case["headers"]
    auth = next(v for k, v in headers if k.lower() == "authorization")
    algorithm, credential, signed, signature = parse_authorization(auth)
    if credential[0] != case["access_key_id"]:
        return False, f"credential {credential} names another key"
    amz_date = next(v for k, v in headers if k.lower() == "x-amz-date")
    # Hand botocore only the signed headers: it signs every header it is given.
    signed_values = HTTPHeaders()
    for k, v in headers:
        if k.lower() in signed:
            signed_values[k] = v  # appends: repeated headers keep their order
    request = AWSRequest(method=case["method"], url=case["url"], headers=signed_values)
    request.context["timestamp"] = amz_date
    request.context["payload_signing_enabled"] = False  # -> UNSIGNED-PAYLOAD
    creds = Credentials(case["access_key_id"], case["secret_access_key"])
    region = credential[2] if algorithm == "AWS4-HMAC-SHA256" else "unused"
    service = credential[3] if algorithm == "AWS4-HMAC-SHA256" else credential[2]
    signer = SigV4Auth(creds, service, region)
    if signer.signed_headers(signer.headers_to_sign(request)) != ";".join(signed):
        return False, f"signed headers differ: botocore {signer.signed_headers(signer.headers_to_sign(request))}"
    canonical = signer.canonical_request(request)
    if algorithm == "AWS4-HMAC-SHA256":
        string_to_sign = signer.string_to_sign(request, canonical)
        expected = signer.signature(string_to_sign, request)
        if expected != signature:
            return False, f"signature {signature} != botocore {expected}\n{canonical}"
        return True, "sigv4 signature recomputed"
    if algorithm == "AWS4-ECDSA-P256-SHA256":
        scope = "/".join(credential[1:])
        string_to_sign = "\n".join([algorithm, amz_date, scope,
                                    hashlib.sha256(canonical.encode()).hexdigest()])
        key = v4a_private_key(case["access_key_id"], case["secret_access_key"]).public_key()
        try:
            key.verify(bytes.fromhex(signature), string_to_sign.encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False, f"sigv4a signature does not verify\n{canonical}"
        return True, "sigv4a signature verified"
    return False, f"unknown algorithm {algorithm}"


def main():
    cases = json.load(sys.stdin)["cases"]
    results = []
    for case in cases:
        try:
            ok, detail = check(case)
        except Exception as e:  # report, never hide
            ok, detail = False, f"{type(e).__name__}: {e}"
        results.append({"name": case["name"], "ok": ok, "detail": detail})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
