#!/usr/bin/env python3
"""A minimal OCI distribution server with bearer-token auth, for testing the token flow on loopback.

Usage: token-registry.py LAYOUT PORTFILE [USER:PASSWORD]
Serves the OCI layout LAYOUT read-only under any repository name: manifests by ref.name tag or digest,
blobs by digest. /v2/ answers 401 with a Bearer challenge whose realm is /token on this server.
Repositories under "public/" get anonymous tokens; others need USER:PASSWORD (basic) at /token.
Binds 127.0.0.1 on a free port and writes it to PORTFILE, and its pid to PORTFILE.pid.
"""
import base64, hashlib, json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

layout, portfile = sys.argv[1], sys.argv[2]
creds = sys.argv[3] if len(sys.argv) > 3 else None
tokens = {}  # token -> repository

def index():
    with open(os.path.join(layout, "index.json")) as f:
        return json.load(f)

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def challenge(self, repo=None):
        scope = f',scope="repository:{repo}:pull"' if repo else ""
        realm = f"http://127.0.0.1:{self.server.server_port}/token"
        err = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}).encode()
        self.send(401, err, {"WWW-Authenticate": f'Bearer realm="{realm}",service="token-test"{scope}'})

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/token":
            from urllib.parse import parse_qs, urlparse
            q = parse_qs(urlparse(self.path).query)
            scope = q.get("scope", [""])[0]
            repo = scope.split(":")[1] if scope.count(":") >= 2 else ""
            auth = self.headers.get("Authorization", "")
            ok_creds = creds and auth == "Basic " + base64.b64encode(creds.encode()).decode()
            if auth and not ok_creds:
                return self.send(401, b'{"details":"bad credentials"}')
            if not repo.startswith("public/") and not ok_creds:
                return self.send(401, b'{"details":"login required"}')
            token = hashlib.sha256(os.urandom(16)).hexdigest()
            tokens[token] = repo
            return self.send(200, json.dumps({"token": token}).encode(), {"Content-Type": "application/json"})
        if path == "/v2/":
            return self.challenge()
        parts = path[len("/v2/"):].split("/")
        if len(parts) < 3 or parts[-2] not in ("manifests", "blobs"):
            return self.send(404)
        repo, kind, ref = "/".join(parts[:-2]), parts[-2], parts[-1]
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or tokens.get(auth[7:]) != repo:
            return self.challenge(repo)
        if kind == "manifests" and not ref.startswith("sha256:"):
            found = [m for m in index()["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
            if not found:
                return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
            ref = found[0]["digest"]
        blob = os.path.join(layout, "blobs", "sha256", ref.split(":", 1)[1])
        if not os.path.isfile(blob):
            return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')
        with open(blob, "rb") as f:
            data = f.read()
        headers = {"Docker-Content-Digest": ref}
        if kind == "manifests":
            headers["Content-Type"] = json.loads(data).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
        self.send(200, data, headers)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".pid", "w") as f:
    f.write(str(os.getpid()))
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_port))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
