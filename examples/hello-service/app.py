"""A tiny HTTP service (standard library only): the example repository of the "containerise a service" tutorial.

GET /healthz -> {"status": "ok"}; GET /hello?name=X -> {"greeting": "hello, X"}. Listens on $PORT (default 8080).
"""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def greeting(name):
    return {"greeting": f"hello, {name or 'world'}"}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, {"status": "ok"})
        elif url.path == "/hello":
            self._send(200, greeting(parse_qs(url.query).get("name", [""])[0]))
        else:
            self._send(404, {"error": "not found"})

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()


if __name__ == "__main__":
    main()
