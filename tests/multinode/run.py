#!/usr/bin/env python3
"""Scale-out and fault checks: three `tessera` processes on one Postgres and Redis.

Run by `.ci/run` (stdlib only): `run.py <tessera binary> <work dir>`. It needs the
machine's Postgres (127.0.0.1:5432, trust) and Redis (127.0.0.1:6379) and is allowed to
stop and restart both. Checks:

1. a flow hops nodes: authorize on 1, login on 2, token on 3, refresh on 1, userinfo on 2;
2. one refresh token redeemed concurrently on all three nodes: exactly one success, the
   family revoked afterwards, exactly one reuse audit event and one reuse webhook;
3. Redis stopped and started, then Postgres restarted, under load: only 503s during the
   outages (no other 5xx, no hung request), full recovery, no audit event lost;
4. SIGTERM under load: every request the node accepted is answered.
"""

import base64
import hashlib
import http.client
import http.cookiejar
import http.server
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

BIN, WORK = sys.argv[1], sys.argv[2]
PORTS = [18301, 18302, 18303]
PUBLIC = f"http://127.0.0.1:{PORTS[0]}"
ADMIN = "mn-admin-" + secrets.token_hex(12)
DB = "tessera_mn_" + secrets.token_hex(6)
DB_URL = f"postgres://postgres@127.0.0.1/{DB}"
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379",
               "--save", "", "--appendonly", "no"]
REDIRECT = "https://app.example.com/cb"
PASSWORD = "correct horse battery"
TIMEOUT = 15  # seconds; a request taking longer counts as hung

results = []
nodes = {}


def check(name, ok, detail=""):
    results.append((name, ok))
    print(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""), flush=True)


def base(i):
    return f"http://127.0.0.1:{PORTS[i]}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def opener(jar=None):
    handlers = [NoRedirect()]
    if jar is not None:
        handlers.append(urllib.request.HTTPCookieProcessor(jar))
    return urllib.request.build_opener(*handlers)


PLAIN = opener()


def request(url, method="GET", form=None, json_body=None, headers=None, via=PLAIN):
    """Returns (status, headers, body); HTTP errors are results, not exceptions."""
    data = None
    hdrs = dict(headers or {})
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs["content-type"] = "application/x-www-form-urlencoded"
    if json_body is not None:
        data = json.dumps(json_body).encode()
        hdrs["content-type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with via.open(req, timeout=TIMEOUT) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def admin(i, path, method="GET", body=None):
    status, _, text = request(base(i) + "/api/v1" + path, method, json_body=body,
                              headers={"authorization": f"Bearer {ADMIN}"})
    assert status < 300, f"{method} {path}: {status} {text}"
    return json.loads(text) if text else None


def start_node(i):
    env = dict(os.environ,
               TESSERA_LISTEN=f"127.0.0.1:{PORTS[i]}", TESSERA_PUBLIC_URL=PUBLIC,
               TESSERA_DATABASE_URL=DB_URL, TESSERA_REDIS_URL="redis://127.0.0.1:6379",
               TESSERA_CACHE_NAMESPACE="mn-" + DB, TESSERA_MASTER_KEY=MASTER_KEY,
               TESSERA_ADMIN_TOKEN=ADMIN, TESSERA_DATA_DIR=f"{WORK}/node{i}",
               TESSERA_WEBHOOK_ALLOW_PRIVATE="true", TESSERA_SHUTDOWN_GRACE_SECS="10",
               TESSERA_LOG_FORMAT="json",
               # The load below is one client hammering the token endpoint on purpose.
               TESSERA_TOKEN_REQUESTS_PER_MINUTE="1000000")
    log = open(f"{WORK}/node{i}.log", "ab")
    nodes[i] = subprocess.Popen([BIN, "serve"], env=env, stdout=log, stderr=log)


def wait_ready(i, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if request(base(i) + "/readyz")[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def on_node(url, i):
    """The same path on node i (redirects carry the public address)."""
    parts = urllib.parse.urlsplit(url)
    return base(i) + parts.path + ("?" + parts.query if parts.query else "")


def hidden(html, name):
    marker = f'name="{name}" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


class Receiver(http.server.BaseHTTPRequestHandler):
    """Collects webhook deliveries."""
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.received.append((self.headers.get("webhook-id"), json.loads(body or b"{}")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def token(i, client, form):
    return request(base(i) + f"/t/{SLUG}/token", "POST", form=form, headers={
        "authorization": "Basic " + base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()})


def flow_across_nodes(client, user_id):
    jar = http.cookiejar.CookieJar()
    browser = opener(jar)
    verifier, challenge = pkce()
    query = urllib.parse.urlencode({
        "client_id": client["client_id"], "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "openid profile offline_access", "state": "s1", "nonce": "n1",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    status, headers, _ = request(base(0) + f"/t/{SLUG}/authorize?{query}", via=browser)
    assert status == 303, f"authorize on node 1: {status}"
    login = on_node(headers["location"], 1)
    status, _, page = request(login, via=browser)
    assert status == 200, f"login page on node 2: {status}"
    status, headers, _ = request(login.split("?")[0], "POST", via=browser, form={
        "interaction": hidden(page, "interaction"), "csrf_token": hidden(page, "csrf_token"),
        "username": "ann", "password": PASSWORD})
    assert status == 303 and headers["location"].startswith(REDIRECT), f"login on node 2: {status}"
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["location"]).query)["code"][0]
    status, _, body = token(2, client, {"grant_type": "authorization_code", "code": code,
                                        "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert status == 200, f"token on node 3: {status} {body}"
    tokens = json.loads(body)
    status, _, body = token(0, client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert status == 200, f"refresh on node 1: {status} {body}"
    tokens = json.loads(body)
    status, _, body = request(base(1) + f"/t/{SLUG}/userinfo",
                              headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert status == 200 and json.loads(body)["sub"] == user_id, f"userinfo on node 2: {status} {body}"
    return tokens


def concurrent_refresh(client, refresh_token):
    barrier = threading.Barrier(3)
    outcomes = [None] * 3

    def redeem(i):
        barrier.wait()
        outcomes[i] = token(i, client, {"grant_type": "refresh_token", "refresh_token": refresh_token})

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [o for o in outcomes if o[0] == 200]
    check("concurrent refresh on three nodes: exactly one success", len(wins) == 1,
          str([o[0] for o in outcomes]))
    if wins:
        newer = json.loads(wins[0][2])["refresh_token"]
        status = token(0, client, {"grant_type": "refresh_token", "refresh_token": newer})[0]
        check("the family is revoked afterwards (the winner's new token is refused)", status == 400, str(status))
    reuse = admin(0, f"/tenants/{SLUG}/audit-events?action=refresh_token.reuse_detected")["items"]
    check("exactly one reuse audit event", len(reuse) == 1, str(len(reuse)))
    deadline = time.time() + 20
    alerts = []
    while time.time() < deadline:
        alerts = [r for r in Receiver.received if r[1].get("type") == "refresh_token.reuse_detected"]
        if alerts:
            time.sleep(2)  # a duplicate would arrive right behind the first
            alerts = [r for r in Receiver.received if r[1].get("type") == "refresh_token.reuse_detected"]
            break
        time.sleep(0.2)
    check("exactly one reuse alert delivered by webhook", len({a[0] for a in alerts}) == 1,
          f"{len(alerts)} deliveries, ids {sorted({a[0] for a in alerts})}")


class Load:
    """Background traffic on every node: discovery (database) and client_credentials
    grants (database, audit log, cache-backed limits)."""

    def __init__(self, client, targets, threads=6):
        self.client, self.targets, self.stop = client, targets, threading.Event()
        self.outcomes, self.lock = [], threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(threads)]

    def run(self, n):
        k = n
        while not self.stop.is_set():
            i = self.targets[k % len(self.targets)]
            grant = k % 2 == 0
            k += 1
            started = time.time()
            try:
                if grant:
                    status = token(i, self.client, {"grant_type": "client_credentials"})[0]
                else:
                    status = request(base(i) + f"/t/{SLUG}/.well-known/openid-configuration")[0]
                outcome = status
            except (TimeoutError, OSError, http.client.HTTPException) as err:
                reason = getattr(err, "reason", err)
                if isinstance(reason, ConnectionRefusedError):
                    outcome = "refused"  # the node no longer accepts: a balancer moves on
                elif isinstance(reason, (ConnectionResetError, BrokenPipeError)) \
                        and not isinstance(err, http.client.HTTPException):
                    # The socket closed while the client was still sending its request
                    # (reset on connect, or EPIPE writing the body): either the kernel had
                    # queued it in the listen backlog when the server closed its socket, or
                    # the server had accepted it but read no byte of it yet. HTTP/1 has no
                    # GOAWAY; hyper closes connections with no request started at shutdown
                    # (hyperium/hyper#2730, #3808). The server did no work for it, so it is
                    # not in-flight work and a balancer may retry it. A request the server
                    # read and then dropped would fail reading the response instead
                    # (RemoteDisconnected, an HTTPException) and counts as a failure.
                    outcome = "closed-unread"
                else:
                    outcome = f"{type(err).__name__}: {reason}"
            with self.lock:
                self.outcomes.append((outcome, grant, time.time() - started))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def granted_events():
    items, cursor = [], None
    while True:
        query = "?action=token.granted&limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = admin(0, f"/tenants/{SLUG}/audit-events{query}")
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def faults(client):
    before = len([e for e in granted_events() if e.get("details", {}).get("grant_type") == "client_credentials"])
    with Load(client, [0, 1, 2]) as load:
        time.sleep(1.5)
        subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True)
        time.sleep(2)
        down = [request(base(i) + "/readyz")[0] for i in range(3)]
        check("with Redis stopped every node's /readyz is 503", down == [503] * 3, str(down))
        _, challenge = pkce()
        query = urllib.parse.urlencode({
            "client_id": client["client_id"], "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"})
        status = request(base(0) + f"/t/{SLUG}/authorize?{query}")[0]
        check("with Redis stopped the login flow fails closed with 503", status == 503, str(status))
        subprocess.run(REDIS_START, check=True, capture_output=True)
        check("after Redis returns every node is ready again without restart",
              all(wait_ready(i) for i in range(3)))
        time.sleep(1.5)
        version = os.listdir("/etc/postgresql")[0]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                       check=True, capture_output=True)
        check("after a Postgres restart every node is ready again without restart",
              all(wait_ready(i) for i in range(3)))
        time.sleep(1.5)
    outcomes = load.outcomes
    bad = [o for o in outcomes if o[0] not in (200, 503)]
    slow = max((o[2] for o in outcomes), default=0)
    served = sum(1 for o in outcomes if o[0] == 200)
    unavailable = sum(1 for o in outcomes if o[0] == 503)
    check("only 200 or 503 during the outages", not bad,
          f"{served} ok, {unavailable} x 503, others: {bad[:10]}")
    check("no request hung past the timeout", slow < TIMEOUT, f"slowest {slow:.1f} s")
    final = [request(base(i) + f"/t/{SLUG}/.well-known/openid-configuration")[0] for i in range(3)]
    check("full recovery on every node", final == [200] * 3, str(final))
    grants_ok = sum(1 for o in outcomes if o[0] == 200 and o[1])
    after = len([e for e in granted_events() if e.get("details", {}).get("grant_type") == "client_credentials"])
    check("no audit event lost: one token.granted per successful grant",
          after - before == grants_ok, f"{grants_ok} grants answered 200, {after - before} audited")


def sigterm_under_load(client):
    with Load(client, [2], threads=4) as load:
        time.sleep(1.5)
        nodes[2].send_signal(signal.SIGTERM)
        started = time.time()
        try:
            nodes[2].wait(timeout=20)
            exited = time.time() - started
        except subprocess.TimeoutExpired:
            exited = None
        time.sleep(0.5)
    failed = [o for o in load.outcomes if o[0] not in (200, "refused", "closed-unread")]
    answered = sum(1 for o in load.outcomes if o[0] == 200)
    backlog = sum(1 for o in load.outcomes if o[0] == "closed-unread")
    check("SIGTERM under load: every accepted request answered", not failed,
          f"{answered} answered, then refused ({backlog} closed before the server read them); failures: {failed[:10]}")
    check("the node exits within its grace period", exited is not None and exited < 12,
          f"{exited:.1f} s" if exited is not None else "did not exit")


def main():
    global MASTER_KEY, SLUG
    MASTER_KEY = base64.b64encode(os.urandom(32)).decode()
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", f"CREATE DATABASE {DB}"], check=True)
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        for i in range(3):
            start_node(i)
        assert all(wait_ready(i) for i in range(3)), "nodes did not become ready"
        SLUG = "mn-" + secrets.token_hex(4)
        admin(0, "/tenants", "POST", {"slug": SLUG, "display_name": "Multi-node"})
        client = admin(1, f"/tenants/{SLUG}/clients", "POST", {
            "name": "Web", "client_type": "confidential", "redirect_uris": [REDIRECT], "first_party": True,
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"]})
        user = admin(2, f"/tenants/{SLUG}/users", "POST",
                     {"username": "ann", "email": "ann@example.com", "password": PASSWORD})
        admin(0, f"/tenants/{SLUG}/webhooks", "POST", {
            "url": f"http://127.0.0.1:{receiver.server_address[1]}/hook",
            "event_types": ["refresh_token.reuse_detected"]})
        try:
            tokens = flow_across_nodes(client, user["id"])
            check("authorize on 1, login on 2, token on 3, refresh on 1, userinfo on 2", True)
        except AssertionError as err:
            check("authorize on 1, login on 2, token on 3, refresh on 1, userinfo on 2", False, str(err))
            tokens = None
        if tokens:
            concurrent_refresh(client, tokens["refresh_token"])
        faults(client)
        sigterm_under_load(client)
    finally:
        for proc in nodes.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        receiver.shutdown()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {DB}"])
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"multinode: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
