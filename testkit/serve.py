#!/usr/bin/env python3
"""Loopback test targets for Picket's end-to-end tests.

serve.py http DOCROOT            -> plain HTTP on 127.0.0.1, a free port
serve.py https DOCROOT CERT KEY  -> HTTPS (self-signed cert) on 127.0.0.1, a free port

Binds port 0 so the kernel picks a free port, prints it on the first stdout line, then
serves until killed. Binds only 127.0.0.1: these targets exist for the tests alone.
"""
import functools
import http.server
import ssl
import sys


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """No access log: scanners probe a lot, and the demo's output is Picket's."""

    def log_message(self, *args):
        pass


def main():
    mode, docroot = sys.argv[1], sys.argv[2]
    handler = functools.partial(QuietHandler, directory=docroot)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # Probes that reset the connection are normal here; keep them off stderr.
    server.handle_error = lambda *args: None
    if mode == "https":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
