"""Container health check: GET /healthz (or the path given, e.g. /readyz) on this container's web server; exit 0
only when it reports ok.

Standard library only, so it starts fast. It sends a Host header the settings allow and the forwarded-proto
header of a TLS proxy, so neither ALLOWED_HOSTS nor the HTTPS redirect turns a healthy hub into a failure.
"""

from __future__ import annotations

import http.client
import json
import os
import sys


def allowed_host() -> str:
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip()
        if host and host != "*":
            return ("healthcheck" + host) if host.startswith(".") else host
    return "localhost"


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    path = sys.argv[1] if len(sys.argv) > 1 else "/healthz"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": allowed_host(), "X-Forwarded-Proto": "https"})
        response = conn.getresponse()
        body = response.read()
    except OSError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    if response.status != 200:
        print(f"{path}: HTTP {response.status} {body[:500]!r}", file=sys.stderr)
        return 1
    try:
        return 0 if json.loads(body).get("ok") is True else 1
    except ValueError:
        print(f"{path}: not JSON: {body[:200]!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
