#!/usr/bin/env python3
"""Peer reading of nmap XML reports with python-libnmap, for tests/real_reports.rs.

Usage: libnmap_summary.py FILE...   (run with the venv's python: .venv-peers/bin/python,
made by scripts/setup). Prints one JSON object: {FILE: summary}, where summary is either
{"error": "why libnmap refused it"} or
{"incomplete": bool, "hosts": [{"ipv4", "ipv6", "mac", "vendor", "status",
  "hostnames": [name...], "os": [[name, accuracy]...],
  "ports": [[port, proto, state, name, product, version, tunnel]...]}]}.
"incomplete" is true when libnmap read the file only with incomplete=True (an interrupted
run: libnmap closes the document itself and keeps the complete hosts).
Reports everything libnmap gives, unfiltered: the test decides what Picket must match.
"""
import json
import sys

from libnmap.parser import NmapParser


def host_summary(h):
    os_matches = []
    try:
        for m in h.os_match_probabilities():
            os_matches.append([m.name, int(m.accuracy)])
    except Exception as e:  # libnmap's OS accessors raise on some old shapes
        os_matches = {"error": repr(e)}
    ports = []
    for s in h.services:
        d = s.service_dict or {}
        ports.append([s.port, s.protocol, s.state, s.service or "",
                      d.get("product"), d.get("version"), s.tunnel or None])
    return {
        "ipv4": h.ipv4 or None,
        "ipv6": h.ipv6 or None,
        "mac": h.mac or None,
        "vendor": h.vendor or None,
        "status": h.status,
        "hostnames": list(h.hostnames),
        "os": os_matches,
        "ports": ports,
    }


def summary(path):
    with open(path, "rb") as f:
        data = f.read().decode("utf-8", errors="replace")
    incomplete = False
    try:
        report = NmapParser.parse_fromstring(data)
    except Exception as first:
        try:
            report = NmapParser.parse_fromstring(data, incomplete=True)
            incomplete = True
        except Exception:
            return {"error": "%s: %s" % (type(first).__name__, first)}
    if not hasattr(report, "hosts"):
        return {"error": "not a report: %s" % type(report).__name__}
    return {"incomplete": incomplete, "hosts": [host_summary(h) for h in report.hosts]}


def main():
    out = {}
    for path in sys.argv[1:]:
        try:
            out[path] = summary(path)
        except Exception as e:  # one unreadable file must not hide the others
            out[path] = {"error": "%s: %s" % (type(e).__name__, e)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
