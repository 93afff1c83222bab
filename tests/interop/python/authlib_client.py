"""Authlib (Python) as an OAuth 2.1 / OpenID Connect client against a fresh Tessera tenant.

Usage: python authlib_client.py BASE_URL ADMIN_TOKEN

The relying party is Authlib's OAuth2Session (requests): PKCE S256, the code exchange,
refresh, introspection, revocation and client credentials are Authlib's own code. The
ID token is verified by authlib.jose against the tenant's JWKS and its claims by
authlib.oidc.core.CodeIDToken (iss, aud, exp, iat, nonce, at_hash, auth_time). The
person's part (login and consent pages) is played with a plain requests.Session.
"""

from __future__ import annotations

import html
import re
import secrets
import sys
import time
import traceback
import warnings
from urllib.parse import parse_qs, urljoin, urlparse

import requests

# authlib.jose announces its move to joserfc; the API used here is still the documented one.
warnings.filterwarnings("ignore", message=".*authlib.jose.*")

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

PASSED = 0
FAILED = 0


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


def hidden_field(page: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    value = tag and re.search(r'value="([^"]*)"', tag.group(0))
    if not value:
        raise AssertionError(f"no hidden field {name}")
    return html.unescape(value.group(1))


class Person:
    """A browser without JavaScript: cookies kept, redirects followed by hand."""

    def __init__(self, username: str, password: str):
        self.http = requests.Session()
        self.username = username
        self.password = password

    def walk(self, url: str, stop_at: str, decision: str = "allow"):
        seen = []
        for _ in range(12):
            if url.startswith(stop_at):
                return url, seen
            res = self.http.get(url, allow_redirects=False, timeout=10)
            if res.is_redirect:
                url = urljoin(url, res.headers["location"])
                continue
            assert res.status_code == 200, f"GET {url}: {res.status_code} {res.text[:300]}"
            page = res.text
            action = urljoin(url, html.unescape(re.search(r'<form[^>]*action="([^"]*)"', page).group(1)))
            form = {"interaction": hidden_field(page, "interaction"), "csrf_token": hidden_field(page, "csrf_token")}
            if 'name="password"' in page:
                seen.append("login")
                form.update(username=self.username, password=self.password)
            elif 'name="decision"' in page:
                seen.append("consent")
                form["decision"] = decision
            else:
                raise AssertionError(f"unexpected page {url}: {page[:300]}")
            posted = self.http.post(action, data=form, allow_redirects=False, timeout=10)
            assert posted.is_redirect, f"POST {action}: {posted.status_code} {posted.text[:300]}"
            url = urljoin(action, posted.headers["location"])
        raise AssertionError("too many hops")


def fresh_tenant(base: str, token: str, settings: dict | None = None) -> dict:
    admin = requests.Session()
    admin.headers["authorization"] = f"Bearer {token}"

    def call(method, path, body):
        res = admin.request(method, f"{base}/api/v1{path}", json=body, timeout=10)
        assert res.ok, f"{method} {path}: {res.status_code} {res.text}"
        return res.json()

    slug = f"oidc-py-{secrets.token_hex(5)}"
    body = {"slug": slug, "display_name": "Interop Authlib"}
    if settings:
        body["settings"] = settings
    tenant = call("POST", "/tenants", body)
    redirect_uri = "http://127.0.0.1:18999/callback"
    client = call(
        "POST",
        f"/tenants/{slug}/clients",
        {
            "name": "Authlib relying party",
            "client_type": "confidential",
            "redirect_uris": [redirect_uri],
            "post_logout_redirect_uris": ["http://127.0.0.1:18999/signed-out"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "allowed_scopes": ["openid", "profile", "email", "offline_access", "api:read"],
        },
    )
    # A service registered for client_secret_post: each client is accepted only with the
    # method it is registered with (token_endpoint_auth_method).
    post_client = call(
        "POST",
        f"/tenants/{slug}/clients",
        {
            "name": "Authlib service",
            "client_type": "confidential",
            "grant_types": ["client_credentials"],
            "allowed_scopes": ["api:read"],
            "token_endpoint_auth_method": "client_secret_post",
        },
    )
    username = f"bob-{secrets.token_hex(4)}"
    user = call(
        "POST",
        f"/tenants/{slug}/users",
        {"username": username, "email": f"{username}@example.com", "password": "correct horse battery staple", "email_verified": True},
    )
    return {
        "issuer": tenant["issuer"],
        "client": client,
        "post_client": post_client,
        "redirect_uri": redirect_uri,
        "user": {"id": user["id"], "username": username, "email": f"{username}@example.com", "password": "correct horse battery staple"},
    }


def main() -> int:
    base, admin_token = sys.argv[1].rstrip("/"), sys.argv[2]
    started = time.monotonic()
    t = fresh_tenant(base, admin_token)
    issuer, client, user = t["issuer"], t["client"], t["user"]
    person = Person(user["username"], user["password"])
    state = {}

    def session(**kw) -> OAuth2Session:
        return OAuth2Session(
            client["client_id"],
            client["client_secret"],
            redirect_uri=t["redirect_uri"],
            code_challenge_method="S256",
            **kw,
        )

    def discovery():
        md = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        assert md["issuer"] == issuer, md["issuer"]
        rfc8414 = requests.get(f"{base}/.well-known/oauth-authorization-server{urlparse(issuer).path}", timeout=10).json()
        assert rfc8414["issuer"] == issuer, rfc8414
        state["md"] = md
        state["jwks"] = JsonWebKey.import_key_set(requests.get(md["jwks_uri"], timeout=10).json())

    def validate_id_token(id_token: str, nonce: str, access_token: str):
        claims = jwt.decode(
            id_token,
            state["jwks"],
            claims_cls=CodeIDToken,
            claims_options={"iss": {"essential": True, "value": issuer}},
            claims_params={"nonce": nonce, "client_id": client["client_id"], "access_token": access_token},
        )
        claims.validate(leeway=5)
        return claims

    def code_flow():
        md = state["md"]
        oauth = session(scope="openid profile email offline_access")
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(16)
        url, sent_state = oauth.create_authorization_url(md["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        back, seen = person.walk(url, t["redirect_uri"])
        query = parse_qs(urlparse(back).query)
        assert query.get("iss") == [issuer], f"RFC 9207 iss {query.get('iss')}"
        token = oauth.fetch_token(md["token_endpoint"], authorization_response=back, code_verifier=verifier, state=sent_state)
        return oauth, token, nonce, seen

    def first_login():
        oauth, token, nonce, seen = code_flow()
        assert seen == ["login", "consent"], seen
        assert token["token_type"].lower() == "bearer", token
        assert token.get("refresh_token"), "refresh token for offline_access"
        state.update(oauth=oauth, token=token, nonce=nonce)

    def id_token():
        claims = validate_id_token(state["token"]["id_token"], state["nonce"], state["token"]["access_token"])
        assert claims["sub"] == user["id"], claims["sub"]
        assert "auth_time" in claims, "auth_time"

    def forged_id_token_rejected():
        token = state["token"]["id_token"]
        head, body, sig = token.split(".")
        forged = ".".join([head, body, ("A" if sig[0] != "A" else "B") + sig[1:]])
        try:
            jwt.decode(forged, state["jwks"])
        except Exception:  # noqa: BLE001 - any verification error is the expected outcome
            return
        raise AssertionError("a tampered signature verified")

    def userinfo():
        res = state["oauth"].get(state["md"]["userinfo_endpoint"], timeout=10)
        assert res.status_code == 200, res.text
        info = res.json()
        assert info["sub"] == user["id"] and info["email"] == user["email"], info
        assert info["preferred_username"] == user["username"], info

    def introspect_active():
        res = state["oauth"].introspect_token(state["md"]["introspection_endpoint"], token=state["token"]["access_token"])
        info = res.json()
        assert info["active"] is True and info["client_id"] == client["client_id"], info

    def refresh_rotates():
        old = state["token"]["refresh_token"]
        new = state["oauth"].refresh_token(state["md"]["token_endpoint"], refresh_token=old)
        assert new["refresh_token"] != old, "rotated"
        assert new["access_token"] != state["token"]["access_token"], "new access token"
        if "id_token" in new:
            jwt.decode(new["id_token"], state["jwks"]).validate(leeway=5)
        state.update(old_refresh=old, new_token=new)

    def old_refresh_refused():
        try:
            session().refresh_token(state["md"]["token_endpoint"], refresh_token=state["old_refresh"])
        except OAuthError as err:
            assert err.error == "invalid_grant", err.error
            return
        raise AssertionError("the old refresh token still worked")

    def revoke():
        oauth, token, _nonce, seen = code_flow()
        assert seen == [], f"session and consent reused, saw {seen}"
        md = state["md"]
        res = oauth.revoke_token(md["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token")
        assert res.status_code == 200, res.text
        info = oauth.introspect_token(md["introspection_endpoint"], token=token["refresh_token"]).json()
        assert info["active"] is False, info
        try:
            session().refresh_token(md["token_endpoint"], refresh_token=token["refresh_token"])
        except OAuthError as err:
            assert err.error == "invalid_grant", err.error
            return
        raise AssertionError("a revoked refresh token still worked")

    def client_credentials():
        service = t["post_client"]
        oauth = OAuth2Session(
            service["client_id"], service["client_secret"], scope="api:read", token_endpoint_auth_method="client_secret_post"
        )
        token = oauth.fetch_token(state["md"]["token_endpoint"], grant_type="client_credentials")
        assert token["access_token"] and "refresh_token" not in token, token
        info = oauth.introspect_token(state["md"]["introspection_endpoint"], token=token["access_token"]).json()
        assert info["active"] is True and info["scope"] == "api:read", info

    def signed_with(alg: str):
        other = fresh_tenant(base, admin_token, {"signing_algs": [alg]})
        md = requests.get(f"{other['issuer']}/.well-known/openid-configuration", timeout=10).json()
        assert md["id_token_signing_alg_values_supported"][0] == alg, md["id_token_signing_alg_values_supported"]
        jwks = JsonWebKey.import_key_set(requests.get(md["jwks_uri"], timeout=10).json())
        oauth = OAuth2Session(
            other["client"]["client_id"],
            other["client"]["client_secret"],
            redirect_uri=other["redirect_uri"],
            code_challenge_method="S256",
            scope="openid",
        )
        verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        url, sent_state = oauth.create_authorization_url(md["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        back, _ = Person(other["user"]["username"], other["user"]["password"]).walk(url, other["redirect_uri"])
        token = oauth.fetch_token(md["token_endpoint"], authorization_response=back, code_verifier=verifier, state=sent_state)
        claims = jwt.decode(
            token["id_token"],
            jwks,
            claims_cls=CodeIDToken,
            claims_options={"iss": {"essential": True, "value": other["issuer"]}},
            claims_params={"nonce": nonce, "client_id": other["client"]["client_id"], "access_token": token["access_token"]},
        )
        claims.validate(leeway=5)
        assert claims.header["alg"] == alg, claims.header

    check("discovery (OIDC and RFC 8414) and the JWKS", discovery)
    check("authorization code + PKCE + nonce through the login and consent pages", first_login)
    check("ID token verified against the JWKS with CodeIDToken claims (nonce, at_hash)", id_token)
    check("an ID token with a tampered signature does not verify", forged_id_token_rejected)
    check("userinfo with the access token", userinfo)
    check("introspection: access token active", introspect_active)
    check("refresh rotates the refresh token", refresh_rotates)
    check("the old refresh token is refused with invalid_grant", old_refresh_refused)
    check("revoked refresh token: inactive and refused", revoke)
    check("client credentials with client_secret_post", client_credentials)
    for alg in ("PS256", "ES256", "EdDSA"):
        check(f"ID token signed with {alg} verified against the JWKS", lambda alg=alg: signed_with(alg))

    print(f"authlib: {PASSED} passed, {FAILED} failed ({time.monotonic() - started:.1f}s)")
    return 0 if FAILED == 0 and PASSED > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
