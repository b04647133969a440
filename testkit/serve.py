#!/usr/bin/env python3
"""Loopback test targets for Picket's end-to-end tests.

serve.py http DOCROOT            -> plain HTTP on 127.0.0.1, a free port
serve.py https DOCROOT CERT KEY  -> HTTPS (self-signed cert) on 127.0.0.1, a free port
serve.py redirect LOCATION       -> plain HTTP on 127.0.0.1 answering every request with
                                    `302 Location: LOCATION` (LOCATION is only written in
                                    a header, never connected to)

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


class RedirectHandler(http.server.BaseHTTPRequestHandler):
    """302 to the location given on the command line, for every method and path."""

    location = ""

    def redirect(self):
        self.send_response(302)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_OPTIONS = redirect

    def log_message(self, *args):
        pass


def main():
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "redirect":
        RedirectHandler.location = arg
        handler = RedirectHandler
    else:
        handler = functools.partial(QuietHandler, directory=arg)
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
