#!/usr/bin/env bash
# Starts Debian's docker-registry on 127.0.0.1:<free port> with a throw-away config and storage in DIR.
# Usage: scripts/registry/start-registry.sh DIR [USER:PASSWORD|-] [tls]
#   With USER:PASSWORD the registry requires basic auth (htpasswd, bcrypt); "-" for none.
#   With tls it serves HTTPS with a fresh self-signed certificate for 127.0.0.1 (DIR/cert.pem).
# Writes DIR/port, DIR/pid and DIR/registry.log; prints the port. Stop with stop-registry.sh DIR.
set -euo pipefail
dir=${1:?usage: start-registry.sh DIR [USER:PASSWORD]}
auth=${2:-}
[ "$auth" = - ] && auth=
tls=${3:-}
command -v docker-registry >/dev/null || { echo "docker-registry is not installed (apt-get install docker-registry)" >&2; exit 1; }
mkdir -p "$dir/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
{
    echo "version: 0.1"
    echo "log:"
    echo "  level: error"
    echo "  accesslog:"
    echo "    disabled: true"
    echo "storage:"
    echo "  filesystem:"
    echo "    rootdirectory: $dir/data"
    echo "  delete:"
    echo "    enabled: true"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    echo "  secret: minikubelet-test-secret"
} > "$dir/config.yml"
scheme=http
if [ "$tls" = tls ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    {
        echo "  tls:"
        echo "    certificate: $dir/cert.pem"
        echo "    key: $dir/key.pem"
    } >> "$dir/config.yml"
    scheme=https
fi
if [ -n "$auth" ]; then
    command -v htpasswd >/dev/null || { echo "htpasswd is not installed (apt-get install apache2-utils)" >&2; exit 1; }
    htpasswd -Bbn "${auth%%:*}" "${auth#*:}" > "$dir/htpasswd"
    {
        echo "auth:"
        echo "  htpasswd:"
        echo "    realm: minikubelet-test"
        echo "    path: $dir/htpasswd"
    } >> "$dir/config.yml"
fi
# Debian's package reads REGISTRY_* variables too; make sure none from the host leak in.
env -u REGISTRY_HTTP_ADDR setsid docker-registry serve "$dir/config.yml" > "$dir/registry.log" 2>&1 < /dev/null &
echo $! > "$dir/pid"
echo "$port" > "$dir/port"
for _ in $(seq 1 100); do
    code=$(curl -sk -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/v2/" || true)
    if [ "$code" = 200 ] || [ "$code" = 401 ]; then echo "$port"; exit 0; fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "docker-registry exited:" >&2; cat "$dir/registry.log" >&2; exit 1; }
    sleep 0.1
done
echo "docker-registry did not answer on 127.0.0.1:$port" >&2
kill "$(cat "$dir/pid")" 2>/dev/null || true
exit 1
