#!/usr/bin/env python3
"""Loopback hosts for the real-tool benchmark (benches/e2e/real_tools.rs).

real_hosts.py DOCROOT CERT KEY ADDRESS...
    serves DOCROOT over HTTP on ADDRESS:8080 and over HTTPS (CERT, KEY) on ADDRESS:8443,
    for every ADDRESS given, then prints "ready" and serves until killed.

Refuses any address outside 127.0.0.0/8: the benchmark scans these servers and nothing
else. Unlike testkit/serve.py, the TLS handshake runs in each connection's own thread, as a
real server's would: a wrapped listening socket shakes hands inside accept(), so one probe
that connects and waits (nmap's NULL probe does) would stall every other client of the port
and the benchmark would measure this server instead of the scan.
"""
import functools
import http.server
import ipaddress
import ssl
import sys
import threading

PROBE_TIMEOUT = 15


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """No access log, and a bound on how long a silent client holds its thread."""

    timeout = PROBE_TIMEOUT

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(PROBE_TIMEOUT)
            self.request.do_handshake()
        super().setup()

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a scanner's burst of connects would overflow it,
    # and a dropped SYN costs the client a 1 s retransmit.
    request_queue_size = 128

    def handle_error(self, *args):
        # Scanners reset connections and send garbage: normal here, and not worth a trace.
        pass


def serve(address, handler, ctx=None):
    server = Server((address, 8443 if ctx else 8080), handler)
    if ctx:
        server.socket = ctx.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main():
    docroot, cert, key, addresses = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    loopback = ipaddress.ip_network("127.0.0.0/8")
    if not addresses or any(ipaddress.ip_address(a) not in loopback for a in addresses):
        sys.exit("real_hosts.py: only 127.0.0.0/8 addresses, at least one")
    handler = functools.partial(QuietHandler, directory=docroot)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    for address in addresses:
        serve(address, handler)
        serve(address, handler, ctx)
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
