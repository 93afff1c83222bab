"""PyJWT (Python) as a resource server for Tessera's API resources (RFC 9068 access tokens).

Usage: python pyjwt_resource_server.py BASE_URL ADMIN_TOKEN

Setup goes through the management API: a tenant publishing keys for all four of its
algorithms, APIs A and B, one API per signing algorithm, and a service client with
client grants. Tokens come from the token endpoint (client credentials with the RFC 8707
`resource` parameter, plain requests). Everything the resource server does is PyJWT's
own code: the signing key found by `kid` through `jwt.PyJWKClient(jwks_uri)`, then
`jwt.decode_complete(token, key, algorithms=[...], audience=..., issuer=...)` checks the
signature, `aud`, `iss`, `exp` and the RFC 9068 §2.2 required claims; the header `typ`
(RFC 9068 §4 step 1), which PyJWT leaves to the caller, is read from the verified header.
"""

from __future__ import annotations

import secrets
import sys
import time
import traceback
from urllib.parse import urlparse

import jwt
import requests

PASSED = 0
FAILED = 0

A = "https://a.example/"
B = "https://b.example/"
SCOPES = [{"value": "read:things", "description": "Read things"}, {"value": "write:things", "description": "Change things"}]
ALGS = ("RS256", "PS256", "ES256", "EdDSA")
# RFC 9068 §2.2: the claims every JWT access token carries.
REQUIRED = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]


def check(title, fn):
    """Runs one check; a raised exception fails it and the suite goes on."""
    global PASSED, FAILED
    try:
        value = fn()
    except Exception:  # noqa: BLE001 - every failure is reported, none stops the suite
        FAILED += 1
        lines = traceback.format_exc().strip().splitlines()[-4:]
        print(f"  FAIL {title}\n       " + "\n       ".join(lines))
        return None
    PASSED += 1
    print(f"  ok   {title}")
    return value


def expect(error: type[Exception], fn):
    """`fn` must raise `error` (a PyJWT exception class)."""
    try:
        fn()
    except error:
        return
    except Exception as other:  # noqa: BLE001 - the wrong failure is a failure too
        raise AssertionError(f"expected {error.__name__}, got {type(other).__name__}: {other}") from other
    raise AssertionError(f"expected {error.__name__}, but the token was accepted")


class Admin:
    """The management API with a bearer token."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.http = requests.Session()
        self.http.headers["authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body=None):
        res = self.http.request(method, f"{self.base}/api/v1{path}", json=body, timeout=10)
        assert res.ok, f"{method} {path}: {res.status_code} {res.text}"
        return res.json() if res.text else None


def main() -> int:
    base, admin_token = sys.argv[1].rstrip("/"), sys.argv[2]
    started = time.monotonic()
    admin = Admin(base, admin_token)
    slug = f"rs-py-{secrets.token_hex(5)}"
    issuer = admin.call("POST", "/tenants", {"slug": slug, "display_name": "Interop PyJWT", "settings": {"signing_algs": list(ALGS)}})["issuer"]
    tenant = f"/tenants/{slug}"
    state: dict = {}

    def token_for(resource: str | None, client: dict | None = None) -> str:
        client = client or state["service"]
        form = {"grant_type": "client_credentials", "scope": "read:things"}
        if resource is not None:
            form["resource"] = resource
        res = requests.post(state["md"]["token_endpoint"], data=form, auth=(client["client_id"], client["client_secret"]), timeout=10)
        assert res.status_code == 200, f"token for {resource}: {res.status_code} {res.text}"
        body = res.json()
        assert body["token_type"].lower() == "bearer", body
        return body["access_token"]

    def validate(token: str, audience: str, algorithms=ALGS, iss: str | None = None) -> dict:
        """What a PyJWT resource server for `audience` makes of `token`."""
        key = state["jwks"].get_signing_key_from_jwt(token)
        verified = jwt.decode_complete(
            token,
            key,
            algorithms=list(algorithms),
            audience=audience,
            issuer=iss or issuer,
            options={"require": REQUIRED},
        )
        typ = verified["header"].get("typ", "")
        assert typ.lower().removeprefix("application/") == "at+jwt", f"typ {typ!r}"
        return verified

    def setup():
        state["apis"] = {
            "a": admin.call("POST", f"{tenant}/apis", {"name": "Things A", "identifier": A, "scopes": SCOPES}),
            "b": admin.call("POST", f"{tenant}/apis", {"name": "Things B", "identifier": B, "scopes": SCOPES}),
        }
        for alg in ALGS:
            state["apis"][alg] = admin.call(
                "POST",
                f"{tenant}/apis",
                {"name": f"Things {alg}", "identifier": f"https://{alg.lower()}.example/", "scopes": SCOPES, "signing_alg": alg},
            )
        service = admin.call(
            "POST",
            f"{tenant}/clients",
            {"name": "PyJWT service", "client_type": "confidential", "grant_types": ["client_credentials"], "allowed_scopes": ["read:things"]},
        )
        for api in state["apis"].values():
            admin.call("POST", f"{tenant}/client-grants", {"client_id": service["client_id"], "api_id": api["id"], "scopes": ["read:things"]})
        state["service"] = service
        md = requests.get(f"{base}/.well-known/oauth-authorization-server{urlparse(issuer).path}", timeout=10).json()
        assert md["issuer"] == issuer, md["issuer"]
        state["md"] = md
        state["jwks"] = jwt.PyJWKClient(md["jwks_uri"], cache_keys=True)

    def accepted_at_a():
        token = token_for(A)
        state["at_a"] = token
        verified = validate(token, A)
        claims = verified["payload"]
        assert verified["header"]["alg"] == "RS256", verified["header"]
        assert claims["client_id"] == state["service"]["client_id"], claims
        assert "read:things" in claims["scope"].split(), claims["scope"]
        aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        assert A in aud, claims["aud"]

    def refused_at_b():
        expect(jwt.InvalidAudienceError, lambda: validate(state["at_a"], B))

    def b_token_at_b_only():
        token = token_for(B)
        validate(token, B)
        expect(jwt.InvalidAudienceError, lambda: validate(token, A))

    def other_issuer_refused():
        expect(jwt.InvalidIssuerError, lambda: validate(state["at_a"], A, iss=f"{issuer}-other"))

    def tampered_refused():
        head, body, sig = state["at_a"].split(".")
        forged = ".".join([head, body, ("A" if sig[0] != "A" else "B") + sig[1:]])
        expect(jwt.InvalidSignatureError, lambda: validate(forged, A))

    def not_an_access_token():
        # An ID-token-shaped JWT signed by nobody the JWKS knows, with typ JWT, never
        # gets as far as the claims: PyJWKClient finds no key for its kid.
        fake = jwt.encode({"iss": issuer, "aud": A}, "not-a-key-but-long-enough-for-hs256", algorithm="HS256", headers={"kid": "made-up", "typ": "JWT"})
        expect(jwt.PyJWKClientError, lambda: validate(fake, A))

    def signed_with(alg: str):
        identifier = f"https://{alg.lower()}.example/"
        token = token_for(identifier)
        verified = validate(token, identifier, algorithms=[alg])
        assert verified["header"]["alg"] == alg, verified["header"]
        expect(jwt.InvalidAlgorithmError, lambda: validate(token, identifier, algorithms=[a for a in ALGS if a != alg]))
        expect(jwt.InvalidAudienceError, lambda: validate(token, A))

    def default_api():
        admin.call("PATCH", tenant, {"settings": {"default_api": A}})
        token = token_for(None)
        validate(token, A)
        expect(jwt.InvalidAudienceError, lambda: validate(token, B))

    check("setup: APIs, client grants, RFC 8414 metadata, PyJWKClient on the jwks_uri", setup)
    check("A's token (resource=A) decoded by PyJWT with audience A; typ at+jwt", accepted_at_a)
    check("A's token at B raises InvalidAudienceError", refused_at_b)
    check("B's token is accepted at B and raises InvalidAudienceError at A", b_token_at_b_only)
    check("another issuer raises InvalidIssuerError", other_issuer_refused)
    check("a tampered signature raises InvalidSignatureError", tampered_refused)
    check("a JWT with a kid the tenant never published is refused", not_an_access_token)
    for alg in ALGS:
        check(f"an API signing with {alg}: verified with algorithms=[{alg}], refused without it", lambda alg=alg: signed_with(alg))
    check("with default_api = A, a token requested without resource is for A", default_api)

    print(f"pyjwt: {PASSED} passed, {FAILED} failed ({time.monotonic() - started:.1f}s)")
    return 0 if FAILED == 0 and PASSED > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
