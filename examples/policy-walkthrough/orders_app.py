"""A stand-in for the team's app, the walk-through's forwarding target.

Answers every request 200 with JSON naming the method, the path and the caller the
emulator vouched for (`x-amzn-lattice-identity`); says whether credentials reached it.

    python3 orders_app.py --listen 127.0.0.1:3000
"""

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Orders(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "identity": self.headers.get("x-amzn-lattice-identity"),
                "authorization_received": "authorization" in self.headers,
            }
        ).encode() + b"\n"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_DELETE = do_GET


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:3000", help="HOST:PORT")
    host, port = parser.parse_args().listen.rsplit(":", 1)
    ThreadingHTTPServer((host, int(port)), Orders).serve_forever()


if __name__ == "__main__":
    main()
