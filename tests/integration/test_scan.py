"""
test_scan.py - GET /scan and POST /scan, the TCP connect port scan, against
real sockets on loopback: listening sockets these tests bind (open), sockets
bound but not listening (closed: the kernel answers RST), small Python
servers that speak first (an SSH-like banner, a flood, invalid UTF-8, a
character cut at 256 bytes), silent listeners (empty banners, the per-port
banner wait, the request's deadline), the service's own HTTP port and demo
TCP listener, and NSD (dnsfixture.py) for host names.

Checked, field by field against the spec: the answer's shape (target echo,
address, family, status, ports_requested, complete, open ascending with
rtt_ms and the /etc/services name, closed / filtered / unscanned adding up,
timing), port lists (commas, ranges, duplicates, GET strings and POST arrays
mixing integers and "a-b" strings), banners (text, empty, truncated at 256
bytes, base64), IPv6 (bare and [bracketed]), /etc/hosts and DNS names
(not_found, every address judged by the target policy), every 400 with the
parameter it names (GET and POST, --scan-max-ports, --scan-concurrency-max,
--max-timeout-ms), the 403s of the target policy, --auth-token,
--rate-limit, the probe metrics, a long banner wait that must not block the
worker's loop, the request's deadline ending a scan early (complete false,
still 200), and a service that still answers /healthz and exits 0 on
SIGTERM afterwards.

Whole ranges (1-65535, 1-1024) are scanned only inside a network namespace
these tests create (ip netns add np-scan-<pid>), where netprobe, its
listeners and the HTTP client (curl) all run, and where the open ports are
exactly netprobe's HTTP port, its demo TCP listener and the tests'
listeners (on 22, 80 and 8080, so /etc/services names them). Without the
right to create one (not root) only those tests are skipped.

Traffic goes only to 127.0.0.0/8 / ::1, and on the host's loopback only to
explicit lists of ports these tests bound (a "closed" port is a socket of
ours bound but not listening, held for the test). Only processes these
tests start are stopped, by PID. Every wait is time-bounded (tripled under
NETPROBE_SANITIZED=1).
"""
import atexit
import base64
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import dnsfixture
import harness
from harness import HOST, SCALE, ServiceTestCase, scaled
from peers import TcpPeer, family, ms, read_until_eof, refused_tcp_port

GREETING = "Hello from server"
JSON_HEADERS = {"Content-Type": "application/json"}
SSH_BANNER = b"SSH-2.0-test\r\n"

SCAN_KEYS = {"target", "address", "family", "status", "ports_requested", "complete", "open",
             "closed", "filtered", "unscanned", "timing"}
BANNER_KEYS = {"bytes", "encoding", "data", "truncated"}
TIMING_KEYS = {"resolve_ms", "total_ms"}
EMPTY_BANNER = {"bytes": 0, "encoding": "text", "data": "", "truncated": False}

V6 = dnsfixture.ipv6_loopback_works()


def etc_services_tcp(path="/etc/services"):
    """{port: name} of the tcp entries of /etc/services, the first entry for
    a port winning (as getservbyport() answers)."""
    names = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) < 2:
                    continue
                port, _, proto = fields[1].partition("/")
                if proto == "tcp" and port.isdigit():
                    names.setdefault(int(port), fields[0])
    except OSError:
        pass
    return names


SERVICES = etc_services_tcp()


def expect_banner(raw, truncated=False):
    """What the spec says a banner is for these bytes: text when they are
    valid UTF-8, else padded base64."""
    try:
        return {"bytes": len(raw), "encoding": "text", "data": raw.decode("utf-8"),
                "truncated": truncated}
    except UnicodeDecodeError:
        return {"bytes": len(raw), "encoding": "base64",
                "data": base64.b64encode(raw).decode("ascii"), "truncated": truncated}


def plist(*ports):
    """A ports parameter: integers and (a, b) ranges joined with commas."""
    return ",".join("%d-%d" % p if isinstance(p, tuple) else str(p) for p in ports)


# ---- sockets of ours: open, closed, peers that speak ----

def listening(test, host=HOST, port=0):
    """A TCP socket listening on host:port (the kernel picks the port when
    0) that never accepts: connects to it succeed, and it never says
    anything. Held for the test; returns the port."""
    s = socket.socket(family(host), socket.SOCK_STREAM)
    try:
        if ":" in host:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        s.listen(64)
    except OSError:
        s.close()
        raise
    test.addCleanup(s.close)
    return s.getsockname()[1]


def port_block(test, pattern, tries=300):
    """Consecutive TCP ports on 127.0.0.1, one per letter of pattern: 'o'
    listening (never accepting: open), 'c' bound but not listening
    (closed); held for the test. Returns the list of ports, or None when no
    such block could be taken."""
    for _ in range(tries):
        socks = []
        try:
            first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(first)
            first.bind((HOST, 0))
            base = first.getsockname()[1]
            if base + len(pattern) - 1 > 65535:
                continue
            for i in range(1, len(pattern)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((HOST, base + i))
        except OSError:
            for s in socks:
                s.close()
            continue
        for s, kind in zip(socks, pattern):
            if kind == "o":
                s.listen(64)
            test.addCleanup(s.close)
        return [base + i for i in range(len(pattern))]
    return None


def h_says(payload, then_close=False):
    """Sends payload on accept, then closes (then_close) or waits for the
    client's end."""
    def handler(conn):
        conn.sendall(payload)
        if not then_close:
            read_until_eof(conn)
    return handler


def h_silent(conn):
    """Accepts and says nothing until the client closes."""
    read_until_eof(conn)


# ---- the scan answer ----

class ScanCase(ServiceTestCase):
    """Helpers for GET and POST /scan; `svc` is the class's service."""

    svc = None

    @classmethod
    def shared(cls, args=(), **kw):
        """The class's service; at the end of the class it must still answer
        /healthz (then the harness sends SIGTERM and wants exit 0)."""
        svc = cls.start_class_service(args, **kw)

        def still_healthy():
            if not svc.running():
                raise AssertionError("netprobe %s is no longer running" % " ".join(svc.args))
            status, _, body = svc.get("/healthz")
            if status != 200:
                raise AssertionError("GET /healthz answered %d after the tests: %r"
                                     % (status, body[:200]))

        cls.addClassCleanup(still_healthy)  # runs before the finish (LIFO)
        return svc

    def peer(self, handler, host=HOST, conn_timeout=5):
        p = TcpPeer(handler, host, conn_timeout).start()
        self.addCleanup(p.stop)
        return p

    def get_scan(self, svc=None, headers=None, timeout=15, **params):
        """GET /scan?params -> (status, Headers, doc)."""
        path = "/scan?" + urllib.parse.urlencode(params)
        return (svc or self.svc).json("GET", path, headers=headers, timeout=timeout)

    def post_scan(self, body, svc=None, headers=None, timeout=15):
        """POST /scan with body (a dict is sent as JSON) -> (status, Headers, doc)."""
        hdrs = dict(JSON_HEADERS)
        hdrs.update(headers or {})
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (svc or self.svc).json("POST", "/scan", headers=hdrs, body=data,
                                      timeout=timeout)

    def ok(self, answer):
        status, hdrs, doc = answer
        self.assertEqual(status, 200, doc)
        self.assertEqual(hdrs["Content-Type"], "application/json")
        return doc

    def scan(self, svc=None, headers=None, timeout=15, **params):
        return self.ok(self.get_scan(svc, headers, timeout, **params))

    def scan_post(self, body, svc=None, headers=None, timeout=15):
        return self.ok(self.post_scan(body, svc, headers, timeout))

    def assertMs(self, v, what):
        self.assertIsInstance(v, (int, float), what)
        self.assertNotIsInstance(v, bool, what)
        self.assertGreaterEqual(v, 0, what)
        # Milliseconds with microsecond precision: at most 3 decimals.
        self.assertAlmostEqual(v * 1000, round(v * 1000), delta=1e-3,
                               msg="%s = %r has more than 3 decimals" % (what, v))

    def assertCount(self, v, what):
        self.assertIsInstance(v, int, what)
        self.assertNotIsInstance(v, bool, what)
        self.assertGreaterEqual(v, 0, what)

    def assertBannerShape(self, b):
        self.assertEqual(set(b), BANNER_KEYS, b)
        self.assertCount(b["bytes"], "banner.bytes")
        self.assertLessEqual(b["bytes"], 256)
        self.assertIn(b["encoding"], ("text", "base64"))
        self.assertIsInstance(b["truncated"], bool)
        if b["encoding"] == "text":
            self.assertEqual(len(b["data"].encode("utf-8")), b["bytes"], b)
        else:
            self.assertEqual(len(base64.b64decode(b["data"], validate=True)), b["bytes"], b)
        if b["truncated"]:
            self.assertEqual(b["bytes"], 256, b)

    def assertScan(self, doc, host=HOST, address=HOST, family="ipv4", status="ok", code=None,
                   requested=None, open_ports=None, closed=None, filtered=0, unscanned=0,
                   complete=True, banner=False):
        """The /scan answer's shape, the counts adding up, and every value
        given (None: not checked). Returns {port: open entry}."""
        keys = set(SCAN_KEYS)
        if status == "error":
            keys |= {"error"}
        if address is None:
            keys -= {"address", "family"}
        self.assertEqual(set(doc), keys, doc)
        self.assertEqual(doc["target"], {"host": host}, doc)
        if address is not None:
            self.assertEqual(doc["address"], address, doc)
            self.assertEqual(doc["family"], family, doc)
        self.assertEqual(doc["status"], status, doc)
        if status == "error":
            self.assertEqual(set(doc["error"]), {"code", "message"}, doc)
            self.assertEqual(doc["error"]["code"], code, doc)
            self.assertIsInstance(doc["error"]["message"], str)
            self.assertTrue(doc["error"]["message"])
        for k in ("ports_requested", "closed", "filtered", "unscanned"):
            self.assertCount(doc[k], k)
        self.assertIsInstance(doc["complete"], bool)
        self.assertIsInstance(doc["open"], list)

        t = doc["timing"]
        self.assertEqual(set(t), TIMING_KEYS, t)
        for k, v in t.items():
            self.assertMs(v, "timing." + k)
        self.assertLessEqual(t["resolve_ms"], t["total_ms"], t)

        last = 0
        for e in doc["open"]:
            want = {"port", "rtt_ms"}
            port = e.get("port")
            self.assertIsInstance(port, int, e)
            self.assertGreater(port, last, "open ports not ascending: %r" % doc["open"])
            self.assertLessEqual(port, 65535)
            last = port
            if port in SERVICES:
                want.add("service")
                self.assertEqual(e.get("service"), SERVICES[port], e)
            if banner:
                want.add("banner")
                self.assertBannerShape(e.get("banner", {}))
            self.assertEqual(set(e), want, e)
            self.assertMs(e["rtt_ms"], "rtt_ms of %d" % port)
            self.assertGreater(e["rtt_ms"], 0, e)
            self.assertLessEqual(e["rtt_ms"], t["total_ms"] + 0.002, doc)

        self.assertEqual(len(doc["open"]) + doc["closed"] + doc["filtered"] + doc["unscanned"],
                         doc["ports_requested"], doc)
        if requested is not None:
            self.assertEqual(doc["ports_requested"], requested, doc)
        if open_ports is not None:
            self.assertEqual([e["port"] for e in doc["open"]], list(open_ports), doc)
        for k, v in (("closed", closed), ("filtered", filtered), ("unscanned", unscanned),
                     ("complete", complete)):
            if v is not None:
                self.assertEqual(doc[k], v, "%s: %r" % (k, doc))
        return {e["port"]: e for e in doc["open"]}


# ---- host loopback: explicit lists of ports of ours ----

class LoopbackTests(ScanCase):

    @classmethod
    def setUpClass(cls):
        cls.svc = cls.shared()

    def block(self, pattern):
        ports = port_block(self, pattern)
        if ports is None:
            self.skipTest("no %d consecutive free ports on 127.0.0.1" % len(pattern))
        return ports

    def test_open_and_closed_ports(self):
        # open, closed, open, closed; the middle two given as a range.
        o1, c1, o2, c2 = self.block("ococ")
        t0 = time.monotonic()
        doc = self.scan(host="127.0.0.1", ports=plist(o1, (c1, o2), c2))
        elapsed = time.monotonic() - t0
        self.assertScan(doc, requested=4, open_ports=[o1, o2], closed=2, filtered=0,
                        unscanned=0, complete=True)
        self.assertEqual(doc["target"], {"host": "127.0.0.1"})
        self.assertEqual((doc["address"], doc["family"], doc["status"]),
                         ("127.0.0.1", "ipv4", "ok"))
        t = doc["timing"]
        self.assertEqual(t["resolve_ms"], 0)
        self.assertGreater(t["total_ms"], 0)
        self.assertLess(t["total_ms"], 1000 * SCALE)
        self.assertLess(elapsed, scaled(2))
        # No banner asked: no banner.
        for e in doc["open"]:
            self.assertNotIn("banner", e)
        # The same four as one range.
        doc = self.scan(host=HOST, ports=plist((o1, c2)))
        self.assertScan(doc, requested=4, open_ports=[o1, o2], closed=2)

    def test_service_absent_unless_etc_services_names_the_port(self):
        o1, o2 = self.block("oo")
        doc = self.scan(host=HOST, ports=plist(o1, o2))
        entries = self.assertScan(doc, requested=2, open_ports=[o1, o2], closed=0)
        for p in (o1, o2):
            if p in SERVICES:
                self.assertEqual(entries[p]["service"], SERVICES[p])
            else:
                self.assertNotIn("service", entries[p])

    def test_nothing_open_is_still_200_ok(self):
        c1, c2, c3 = refused_tcp_port(self), refused_tcp_port(self), refused_tcp_port(self)
        doc = self.scan(host=HOST, ports=plist(c1, c2, c3))
        self.assertScan(doc, requested=3, open_ports=[], closed=3)
        self.assertEqual(doc["open"], [])

    def test_duplicates_scanned_once_results_ascending(self):
        a, b = sorted((listening(self), listening(self)))
        doc = self.scan(host=HOST, ports=plist(b, a, a, b))
        self.assertScan(doc, requested=2, open_ports=[a, b], closed=0)
        # Ranges overlapping single ports count each port once.
        ports = port_block(self, "oco")
        if ports is not None:
            p1, p2, p3 = ports
            doc = self.scan(host=HOST, ports=plist(p3, (p1, p3), p2, (p2, p3), p1))
            self.assertScan(doc, requested=3, open_ports=[p1, p3], closed=1)
        # Commas not percent-encoded in the query.
        doc = self.ok(self.svc.json("GET", "/scan?host=127.0.0.1&ports=%d,%d,%d" % (b, a, b)))
        self.assertScan(doc, requested=2, open_ports=[a, b], closed=0)

    def test_post_ports_array_mixing_integers_and_ranges(self):
        o1, c1, o2, c2 = self.block("ococ")
        body = {"host": HOST, "ports": [c2, "%d-%d" % (c1, o2), o1, o1]}
        doc = self.scan_post(body)
        self.assertScan(doc, requested=4, open_ports=[o1, o2], closed=2)
        # The GET string form is accepted in POST too; numbers and booleans
        # as JSON numbers and booleans.
        doc = self.scan_post({"host": HOST, "ports": plist(o1, (c1, o2), c2),
                              "timeout_ms": ms(1), "concurrency": 2, "banner": False,
                              "banner_ms": 100})
        self.assertScan(doc, requested=4, open_ports=[o1, o2], closed=2)
        # Same answer as GET.
        doc2 = self.scan(host=HOST, ports=plist(o1, (c1, o2), c2))
        strip = ("timing",)
        self.assertEqual({k: v for k, v in doc.items() if k not in strip and k != "open"},
                         {k: v for k, v in doc2.items() if k not in strip and k != "open"})
        self.assertEqual([e["port"] for e in doc["open"]], [e["port"] for e in doc2["open"]])

    def test_own_http_port_and_demo_listener(self):
        c = refused_tcp_port(self)
        ports = sorted((self.svc.port, self.svc.tcp_port))
        doc = self.scan(host=HOST, ports=plist(self.svc.tcp_port, c, self.svc.port))
        entries = self.assertScan(doc, requested=3, open_ports=ports, closed=1)
        for p in ports:
            if p in SERVICES:
                self.assertEqual(entries[p]["service"], SERVICES[p])
            else:
                self.assertNotIn("service", entries[p])
        # Both wait for the client to speak: no banner within 200 ms.
        doc = self.scan(host=HOST, ports=plist(self.svc.tcp_port, self.svc.port), banner=1,
                        banner_ms=200)
        entries = self.assertScan(doc, requested=2, open_ports=ports, closed=0, banner=True)
        for p in ports:
            self.assertEqual(entries[p]["banner"], EMPTY_BANNER)
        # The demo listener still greets a client that speaks.
        with socket.create_connection((HOST, self.svc.tcp_port), timeout=scaled(5)) as s:
            s.sendall(b"Hello from client")
            self.assertEqual(harness.recv_until_eof(s, scaled(5)), GREETING.encode())

    def test_banner_text(self):
        peer = self.peer(h_says(SSH_BANNER))
        doc = self.scan(host=HOST, ports=str(peer.port), banner=1, banner_ms=ms(0.5))
        entries = self.assertScan(doc, requested=1, open_ports=[peer.port], closed=0,
                                  banner=True)
        self.assertEqual(entries[peer.port]["banner"],
                         {"bytes": 14, "encoding": "text", "data": "SSH-2.0-test\r\n",
                          "truncated": False})
        peer.wait_connections(1)

    def test_banner_forms_of_the_boolean(self):
        peer = self.peer(h_says(SSH_BANNER))
        for value, want in (("1", True), ("true", True), ("TRUE", True), ("0", False),
                            ("false", False), ("False", False)):
            with self.subTest(banner=value):
                doc = self.scan(host=HOST, ports=str(peer.port), banner=value,
                                banner_ms=ms(0.5))
                entries = self.assertScan(doc, requested=1, open_ports=[peer.port],
                                          banner=want)
                if want:
                    self.assertEqual(entries[peer.port]["banner"], expect_banner(SSH_BANNER))
                else:
                    self.assertNotIn("banner", entries[peer.port])
        # A bare key is true, as for every GET boolean of the service.
        doc = self.ok(self.svc.json("GET", "/scan?host=%s&ports=%d&banner_ms=%d&banner"
                                    % (HOST, peer.port, ms(0.5))))
        entries = self.assertScan(doc, requested=1, open_ports=[peer.port], banner=True)
        self.assertEqual(entries[peer.port]["banner"], expect_banner(SSH_BANNER))
        for value, want in ((True, True), (False, False)):
            doc = self.scan_post({"host": HOST, "ports": [peer.port], "banner": value,
                                  "banner_ms": ms(0.5)})
            entries = self.assertScan(doc, requested=1, open_ports=[peer.port], banner=want)
            if want:
                self.assertEqual(entries[peer.port]["banner"], expect_banner(SSH_BANNER))

    def test_banner_silent_listener_waits_banner_ms(self):
        silent = listening(self)
        c = refused_tcp_port(self)
        t0 = time.monotonic()
        doc = self.scan(host=HOST, ports=plist(silent, c), banner=1, banner_ms=200)
        elapsed = time.monotonic() - t0
        entries = self.assertScan(doc, requested=2, open_ports=[silent], closed=1, banner=True)
        self.assertEqual(entries[silent]["banner"], EMPTY_BANNER)
        t = doc["timing"]
        self.assertGreaterEqual(t["total_ms"], 190)
        self.assertLess(t["total_ms"], 200 + 800 * SCALE)
        self.assertGreaterEqual(elapsed, 0.19)
        self.assertLess(elapsed, 0.2 + 0.8 * SCALE)

    def test_banner_truncated_at_256_bytes(self):
        flood = b"0123456789" * 100
        peer = self.peer(h_says(flood))
        doc = self.scan(host=HOST, ports=str(peer.port), banner=1, banner_ms=ms(1))
        entries = self.assertScan(doc, requested=1, open_ports=[peer.port], banner=True)
        self.assertEqual(entries[peer.port]["banner"], expect_banner(flood[:256], truncated=True))
        self.assertEqual(entries[peer.port]["banner"]["bytes"], 256)
        self.assertLess(doc["timing"]["total_ms"], 1000 * SCALE)

    def test_banner_invalid_utf8_is_base64(self):
        raw = b"\xff\xfe\x00abc"
        peer = self.peer(h_says(raw, then_close=True))
        doc = self.scan(host=HOST, ports=str(peer.port), banner=1, banner_ms=ms(1))
        entries = self.assertScan(doc, requested=1, open_ports=[peer.port], banner=True)
        self.assertEqual(entries[peer.port]["banner"],
                         {"bytes": 6, "encoding": "base64", "data": "//4AYWJj",
                          "truncated": False})

    def test_banner_character_cut_at_256_bytes_is_base64(self):
        raw = b"a" + "\u00e9".encode() * 200     # 401 bytes; byte 256 splits an é
        peer = self.peer(h_says(raw))
        doc = self.scan(host=HOST, ports=str(peer.port), banner=1, banner_ms=ms(1))
        entries = self.assertScan(doc, requested=1, open_ports=[peer.port], banner=True)
        self.assertEqual(entries[peer.port]["banner"], expect_banner(raw[:256], truncated=True))
        self.assertEqual(entries[peer.port]["banner"]["encoding"], "base64")

    def test_banner_of_a_peer_that_speaks_and_closes(self):
        peer = self.peer(h_says(b"bye\n", then_close=True))
        doc = self.scan(host=HOST, ports=str(peer.port), banner=1, banner_ms=ms(1))
        entries = self.assertScan(doc, requested=1, open_ports=[peer.port], banner=True)
        self.assertEqual(entries[peer.port]["banner"], expect_banner(b"bye\n"))

    def test_several_banners_in_one_scan(self):
        ssh = self.peer(h_says(SSH_BANNER))
        binary = self.peer(h_says(b"\xff\xfe\x00abc", then_close=True))
        silent = listening(self)
        c = refused_tcp_port(self)
        ports = sorted((ssh.port, binary.port, silent))
        doc = self.scan(host=HOST, ports=plist(c, *ports), banner=1, banner_ms=300)
        entries = self.assertScan(doc, requested=4, open_ports=ports, closed=1, banner=True)
        self.assertEqual(entries[ssh.port]["banner"], expect_banner(SSH_BANNER))
        self.assertEqual(entries[binary.port]["banner"], expect_banner(b"\xff\xfe\x00abc"))
        self.assertEqual(entries[silent]["banner"], EMPTY_BANNER)
        # The banner waits run side by side (default concurrency 100).
        self.assertLess(doc["timing"]["total_ms"], 300 + 800 * SCALE)

    def test_concurrency_one(self):
        o1, c1, o2, c2 = self.block("ococ")
        doc = self.scan(host=HOST, ports=plist((o1, c2)), concurrency=1)
        self.assertScan(doc, requested=4, open_ports=[o1, o2], closed=2)

    @unittest.skipUnless(V6, "no IPv6 loopback")
    def test_ipv6_bare_and_bracketed(self):
        o = listening(self, host="::1")
        c = refused_tcp_port(self, host="::1")
        for host in ("::1", "[::1]"):
            with self.subTest(host=host):
                doc = self.scan(host=host, ports=plist(o, c))
                self.assertIn(doc["target"]["host"], (host, "::1"))
                self.assertScan(doc, host=doc["target"]["host"], address="::1", family="ipv6",
                                requested=2, open_ports=[o], closed=1)
                self.assertEqual(doc["timing"]["resolve_ms"], 0)
        doc = self.scan_post({"host": "[::1]", "ports": [o, c]})
        self.assertScan(doc, host=doc["target"]["host"], address="::1", family="ipv6",
                        requested=2, open_ports=[o], closed=1)

    def test_localhost_from_etc_hosts(self):
        # Listening on 127.0.0.1 and (when it can) ::1 with the same port:
        # the port is open whichever address localhost gives.
        port, v6_too = None, False
        for _ in range(50):
            s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s4.bind((HOST, 0))
            s4.listen(16)
            self.addCleanup(s4.close)
            port = s4.getsockname()[1]
            if not V6:
                break
            s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s6.bind(("::1", port))
            except OSError:
                s6.close()
                continue
            s6.listen(16)
            self.addCleanup(s6.close)
            v6_too = True
            break
        if V6 and not v6_too:
            self.skipTest("no port free on both 127.0.0.1 and ::1 after 50 tries")
        doc = self.scan(host="localhost", ports=str(port))
        self.assertIn(doc.get("address"), ("127.0.0.1", "::1"), doc)
        family = "ipv6" if doc["address"] == "::1" else "ipv4"
        if doc["address"] == "::1" and not v6_too:
            self.assertScan(doc, host="localhost", address="::1", family=family, requested=1,
                            open_ports=[], closed=1)
        else:
            self.assertScan(doc, host="localhost", address=doc["address"], family=family,
                            requested=1, open_ports=[port], closed=0)
        self.assertGreaterEqual(doc["timing"]["resolve_ms"], 0)

    def test_limits_are_inclusive(self):
        c = refused_tcp_port(self)
        doc = self.scan(host=HOST, ports=str(c), timeout_ms=1, concurrency=1, banner=1,
                        banner_ms=1)
        self.assertEqual(doc["ports_requested"], 1)
        doc = self.scan(host=HOST, ports=str(c), concurrency=512, banner=1, banner_ms=5000)
        self.assertScan(doc, requested=1, open_ports=[], closed=1, banner=True)
        answer = self.get_scan(host=HOST, ports=str(c), concurrency=513)
        self.assertProblem(answer, 400, "/scan", param="concurrency")

    def test_other_methods_are_405(self):
        status, headers, _ = self.svc.request("DELETE", "/scan")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers["Allow"])
        self.assertIn("POST", headers["Allow"])


# ---- host names through DNS, and the policy for every address ----

class NameTests(ScanCase):
    """good.np.test is 127.0.0.10 (a listener of ours binds there),
    bad.np.test 127.0.0.99 (denied below), nope.np.test has no address."""

    @classmethod
    def setUpClass(cls):
        cls.ns = dnsfixture.NsdServer().start()
        cls.addClassCleanup(cls.ns.stop)
        cls.svc = cls.shared(["--dns-server", cls.ns.address, "--deny-cidr", "127.0.0.99/32"])

    def test_name_resolved_by_dns(self):
        o = listening(self, host="127.0.0.10")
        c = refused_tcp_port(self, host="127.0.0.10")
        doc = self.scan(host="good.np.test", ports=plist(o, c))
        self.assertScan(doc, host="good.np.test", address="127.0.0.10", requested=2,
                        open_ports=[o], closed=1)
        self.assertGreater(doc["timing"]["resolve_ms"], 0)

    def test_name_without_addresses_is_not_found(self):
        c1, c2 = refused_tcp_port(self), refused_tcp_port(self)
        for answer in (self.get_scan(host="nope.np.test", ports=plist(c1, c2)),
                       self.post_scan({"host": "nope.np.test", "ports": [c1, c2]})):
            doc = self.ok(answer)
            self.assertScan(doc, host="nope.np.test", address=None, status="error",
                            code="not_found", requested=2, open_ports=[], closed=0,
                            filtered=0, unscanned=2, complete=False)
            self.assertNotIn("address", doc)

    def test_name_with_a_denied_address_is_403(self):
        c = refused_tcp_port(self)
        self.assertProblem(self.get_scan(host="bad.np.test", ports=str(c)), 403, "/scan",
                           param="host")
        self.assertProblem(self.post_scan({"host": "bad.np.test", "ports": [c]}), 403,
                           "/scan", param="host")

    def test_denied_literal_is_403(self):
        c = refused_tcp_port(self)
        answer = self.get_scan(host="127.0.0.99", ports=str(c))
        self.assertProblem(answer, 403, "/scan", param="host")
        self.assertIn("127.0.0.99", answer[2]["detail"])

    def test_probe_outcomes_counted(self):
        svc = self.start_service(["--dns-server", self.ns.address])
        o = listening(self)
        c = refused_tcp_port(self)
        self.scan(svc=svc, host=HOST, ports=plist(o, c))
        self.scan_post({"host": HOST, "ports": [c]}, svc=svc)
        doc = self.scan(svc=svc, host="nope.np.test", ports=str(c))
        self.assertEqual(doc["error"]["code"], "not_found")
        # A 400 and a 403 are not probes.
        self.assertEqual(self.get_scan(svc=svc, host=HOST, ports="0")[0], 400)
        self.assertEqual(self.get_scan(svc=svc, host="169.254.169.254", ports=str(c))[0], 403)

        text = svc.get("/metrics")[2].decode()
        m = harness.parse_metrics(text)
        series = {dict(labels)["outcome"]: v for (name, labels), v in m.items()
                  if name == "netprobe_probes_total" and dict(labels).get("kind") == "scan"}
        self.assertEqual(series, {"ok": 2.0, "not_found": 1.0}, text)
        self.assertEqual(m.get(("netprobe_probe_duration_seconds_count",
                                frozenset({("kind", "scan")}))), 3.0, text)


# ---- 400 and 403 ----

class ValidationTests(ScanCase):

    @classmethod
    def setUpClass(cls):
        cls.svc = cls.shared(["--scan-max-ports", "100", "--scan-concurrency-max", "200",
                              "--max-timeout-ms", "1000", "--default-timeout-ms", "1000"])

    def setUp(self):
        super().setUp()
        # If a bad request were wrongly accepted, its traffic would go to
        # these ports of ours, which refuse it.
        ports = port_block(self, "ccc")
        if ports is None:
            ports = sorted(refused_tcp_port(self) for _ in range(3))
        self.p1, self.p2, self.p3 = ports

    def bad_get(self, param, **params):
        answer = self.get_scan(**params)
        self.assertProblem(answer, 400, "/scan", param=param)
        return answer[2]

    def bad_post(self, param, body):
        answer = self.post_scan(body)
        self.assertProblem(answer, 400, "/scan", param=param)
        return answer[2]

    def both(self, param, **fields):
        """400 naming param from GET (values as strings) and POST (values as
        given), for the fields over a valid host and ports (None: left out)."""
        base = {"host": HOST, "ports": str(self.p1)}
        base.update(fields)
        base = {k: v for k, v in base.items() if v is not None}
        with self.subTest(method="GET", params=base):
            self.bad_get(param, **{k: str(v) for k, v in base.items()})
        with self.subTest(method="POST", body=base):
            self.bad_post(param, base)

    def test_host(self):
        self.both("host", host=None)
        for host in ("", "bad..name", ".np.test", "a" * 64 + ".np.test", "has space.np.test",
                     "[::1", "::1]", "[]"):
            self.both("host", host=host)
        for host in (123, True, ["127.0.0.1"], {}, None):
            with self.subTest(post_host=host):
                self.bad_post("host", {"host": host, "ports": [self.p1]})

    def test_ports(self):
        p1, p2, p3 = self.p1, self.p2, self.p3
        self.both("ports", ports=None)
        for ports in ("", "0", "65536", "%d-%d" % (p2, p1), "a", "%d,,%d" % (p1, p2),
                      "%d-%d-%d" % (p1, p2, p3), "%d," % p1, ",%d" % p1, "-%d" % p1,
                      "%d-" % p1, "%d;%d" % (p1, p2), "%d %d" % (p1, p2), "0-%d" % p1,
                      "%d-65536" % p1, "%dx" % p1, "-1", "99999999999999999999"):
            self.both("ports", ports=ports)

    def test_too_many_ports(self):
        ports = port_block(self, "c" * 101)
        if ports is None:
            self.skipTest("no 101 consecutive free ports on 127.0.0.1")
        first, last = ports[0], ports[-1]
        # 100 (--scan-max-ports) is allowed: all closed ports of ours.
        doc = self.scan(host=HOST, ports="%d-%d" % (first, last - 1), concurrency=200)
        self.assertScan(doc, requested=100, open_ports=[], closed=100)
        self.both("ports", ports="%d-%d" % (first, last))
        self.both("ports", ports="%d-%d,%d" % (first, last - 1, last))
        self.bad_post("ports", {"host": HOST, "ports": ["%d-%d" % (first, last - 1), last]})
        self.bad_post("ports", {"host": HOST, "ports": ports})

    def test_post_ports_of_the_wrong_type(self):
        p1, p2 = self.p1, self.p2
        for ports in (p1, True, None, {"a": p1}, [], [1.5], [True], [None], [[p1]],
                      [{"a": p1}], [0], [65536], [-1], ["%d-%d" % (p2, p1)], ["x"],
                      [p1, "a-b"], float(p1) + 0.5, [float(p1) + 0.5]):
            with self.subTest(ports=ports):
                self.bad_post("ports", {"host": HOST, "ports": ports})

    def test_timeout_ms(self):
        for t in (0, -1, 1001, 5000, "x", 1.5):
            self.both("timeout_ms", timeout_ms=t)
        for t in ("100", True):
            with self.subTest(post_timeout_ms=t):
                self.bad_post("timeout_ms", {"host": HOST, "ports": [self.p1], "timeout_ms": t})
        doc = self.scan(host=HOST, ports=str(self.p1), timeout_ms=1000)
        self.assertScan(doc, requested=1, open_ports=[], closed=1)

    def test_concurrency(self):
        for n in (0, -1, 201, 100000, "x", 1.5):
            self.both("concurrency", concurrency=n)
        for n in ("10", True):
            with self.subTest(post_concurrency=n):
                self.bad_post("concurrency", {"host": HOST, "ports": [self.p1],
                                              "concurrency": n})
        doc = self.scan(host=HOST, ports=str(self.p1), concurrency=200)
        self.assertScan(doc, requested=1, open_ports=[], closed=1)

    def test_banner(self):
        # GET booleans as everywhere in the service: true/false, 1/0 (and
        # yes/no, on/off), any case; anything else is a 400.
        for v in ("maybe", "2", "TRUE1", "y", "truee", "-1"):
            with self.subTest(get_banner=v):
                self.bad_get("banner", host=HOST, ports=str(self.p1), banner=v)
        for v in ("maybe", "true", 1, 0, None, [True]):
            with self.subTest(post_banner=v):
                self.bad_post("banner", {"host": HOST, "ports": [self.p1], "banner": v})

    def test_banner_ms(self):
        for v in (0, -1, 5001, 100000, "x", 1.5):
            with self.subTest(get_banner_ms=v):
                self.bad_get("banner_ms", host=HOST, ports=str(self.p1), banner="1",
                             banner_ms=str(v))
            with self.subTest(post_banner_ms=v):
                self.bad_post("banner_ms", {"host": HOST, "ports": [self.p1], "banner": True,
                                            "banner_ms": v})
        for v in ("100", True):
            with self.subTest(post_banner_ms=v):
                self.bad_post("banner_ms", {"host": HOST, "ports": [self.p1], "banner": True,
                                            "banner_ms": v})

    def test_unknown_post_field(self):
        base = {"host": HOST, "ports": [self.p1]}
        for field in ("foo", "Host", "port", "PORTS"):
            with self.subTest(field=field):
                self.bad_post(field, dict(base, **{field: 1}))

    def test_body_not_a_json_object(self):
        for body in (b"", b"host=127.0.0.1&ports=7", b'{"host": "127.0.0.1", ',
                     b'["127.0.0.1", 7]', b'"127.0.0.1"', b"7", b"null"):
            with self.subTest(body=body):
                self.bad_post("body", body)

    def test_metadata_address_is_403(self):
        # Denied by the default policy before any connect.
        answer = self.get_scan(host="169.254.169.254", ports=str(self.p1))
        self.assertProblem(answer, 403, "/scan", param="host")
        self.assertIn("169.254.169.254", answer[2]["detail"])
        answer = self.post_scan({"host": "169.254.169.254", "ports": [self.p1]})
        self.assertProblem(answer, 403, "/scan", param="host")

    def test_public_only_policy_denies_loopback(self):
        svc = self.start_service(["--target-policy", "public-only"])
        answer = self.get_scan(svc=svc, host=HOST, ports=str(self.p1))
        self.assertProblem(answer, 403, "/scan", param="host")


# ---- --auth-token, --rate-limit ----

class AccessTests(ScanCase):

    def test_auth_token(self):
        svc = self.start_service(["--auth-token", "T"])
        params = {"host": HOST, "ports": str(svc.tcp_port)}
        answer = self.get_scan(svc=svc, **params)
        self.assertProblem(answer, 401, "/scan", param="Authorization",
                           detail="a valid bearer token is required for /scan")
        self.assertEqual(answer[1]["WWW-Authenticate"], 'Bearer realm="netprobe"')
        self.assertEqual(self.get_scan(svc=svc, headers={"Authorization": "Bearer U"},
                                       **params)[0], 401)
        self.assertEqual(self.post_scan(params, svc=svc)[0], 401)
        doc = self.scan(svc=svc, headers={"Authorization": "Bearer T"}, **params)
        self.assertScan(doc, requested=1, open_ports=[svc.tcp_port])
        doc = self.scan_post(params, svc=svc, headers={"Authorization": "Bearer T"})
        self.assertScan(doc, requested=1, open_ports=[svc.tcp_port])

    def test_rate_limit(self):
        svc = self.start_service(["--rate-limit", "1", "--rate-burst", "2"])
        c = refused_tcp_port(self)
        t0 = time.monotonic()
        answers = [self.get_scan(svc=svc, host=HOST, ports=str(c)) for _ in range(3)]
        if time.monotonic() - t0 >= 1.0:
            self.skipTest("three one-port scans took a second: too slow to test the burst")
        self.assertEqual([a[0] for a in answers], [200, 200, 429], [a[2] for a in answers])
        self.assertEqual(answers[0][2]["closed"], 1)
        self.assertProblem(answers[2], 429, "/scan")
        self.assertIn("Retry-After", answers[2][1])


# ---- slow scans wait on the worker's loop; the request's deadline ----

class SlowScanTests(ScanCase):

    def test_banner_wait_does_not_block_the_worker(self):
        svc = self.start_service(workers=1)
        peer = self.peer(h_silent, conn_timeout=10)
        answer = []

        def slow():
            answer.append(self.get_scan(svc=svc, host=HOST, ports=str(peer.port), banner=1,
                                        banner_ms=2000))

        t = threading.Thread(target=slow, daemon=True)
        t_start = time.monotonic()
        t.start()
        peer.wait_connections(1)
        t0 = time.monotonic()
        self.assertEqual(svc.get("/healthz")[0], 200)
        c = refused_tcp_port(self)
        doc = self.scan(svc=svc, host=HOST, ports=str(c))
        self.assertScan(doc, requested=1, open_ports=[], closed=1)
        quick = time.monotonic() - t0
        still_waiting = t.is_alive()
        t.join(scaled(10))
        elapsed = time.monotonic() - t_start
        self.assertTrue(still_waiting, "the banner wait ended before the quick requests")
        self.assertLess(quick, 1.0 * SCALE)
        doc = self.ok(answer[0])
        entries = self.assertScan(doc, requested=1, open_ports=[peer.port], banner=True)
        self.assertEqual(entries[peer.port]["banner"], EMPTY_BANNER)
        self.assertGreaterEqual(doc["timing"]["total_ms"], 1990)
        self.assertLess(doc["timing"]["total_ms"], 2000 + 1000 * SCALE)
        self.assertGreaterEqual(elapsed, 1.99)

    def test_request_deadline_ends_the_scan(self):
        # The request's deadline is --max-timeout-ms + 5 s = 6 s. One port
        # at a time, each silent listener holds the scan for banner_ms
        # (5 s): the first takes 5 s, the second is cut by the deadline, the
        # third and fourth are never tried.
        svc = self.start_service(["--max-timeout-ms", "1000", "--default-timeout-ms", "1000"])
        ports = sorted(listening(self) for _ in range(4))
        t0 = time.monotonic()
        answer = self.get_scan(svc=svc, timeout=20, host=HOST, ports=plist(*ports),
                               concurrency=1, banner=1, banner_ms=5000, timeout_ms=1000)
        elapsed = time.monotonic() - t0
        doc = self.ok(answer)
        entries = self.assertScan(doc, requested=4, open_ports=None, closed=0, filtered=0,
                                  unscanned=None, complete=False, banner=True)
        self.assertGreaterEqual(doc["unscanned"], 2, doc)
        self.assertLessEqual(set(entries), set(ports), doc)
        self.assertIn(ports[0], entries, doc)
        self.assertEqual(entries[ports[0]]["banner"], EMPTY_BANNER)
        self.assertGreaterEqual(elapsed, 5.0)
        self.assertLess(elapsed, 6.0 + scaled(2))
        self.assertEqual(svc.get("/healthz")[0], 200)


# ---- whole ranges, inside a network namespace of ours ----

NS_NAME = "np-scan-%d" % os.getpid()
NS_HTTP_PORT = 18080
NS_TCP_PORT = 18888
NS_UDP_PORT = 18888
NS_DNS_PORT = 19053          # nothing answers there; no name is resolved
NS_CONCURRENCY_MAX = 1000
# The tests' listeners inside the namespace: 22 sends an SSH banner on
# accept, 80 and 8080 listen and never speak.
NS_LISTENERS = {22: "ssh", 80: "silent", 8080: "silent"}
NS_OPEN = sorted({NS_HTTP_PORT, NS_TCP_PORT} | set(NS_LISTENERS))

LISTENER_SCRIPT = r"""
import socket, sys, threading
held = []
def banner(s):
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            return
        try:
            c.sendall(b"SSH-2.0-test\r\n")
        except OSError:
            pass
        held.append(c)
for arg in sys.argv[1:]:
    kind, port = arg.split(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", int(port)))
    s.listen(256)
    held.append(s)
    if kind == "ssh":
        threading.Thread(target=banner, args=(s,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


def _ns(*cmd):
    return ["ip", "netns", "exec", NS_NAME] + list(cmd)


class NamespaceTests(ScanCase):
    """netprobe, the listeners and curl in a network namespace of ours."""

    @classmethod
    def setUpClass(cls):
        for tool in ("ip", "curl"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest("%s not found: the whole-range scans need a network "
                                        "namespace (ip) and a client inside it (curl)" % tool)
        r = subprocess.run(["ip", "netns", "add", NS_NAME], capture_output=True, text=True,
                           timeout=scaled(10))
        if r.returncode != 0:
            raise unittest.SkipTest("cannot create a network namespace (ip netns add %s: %s); "
                                    "whole-range scans run only inside one"
                                    % (NS_NAME, r.stderr.strip()))
        cls.addClassCleanup(cls._del_ns)
        cls.proc = cls.listeners = None
        # If the run is cut short past the class cleanups: our two
        # processes (by PID) and the namespace go at exit.
        atexit.register(cls._leftovers)
        r = subprocess.run(_ns("ip", "link", "set", "lo", "up"), capture_output=True,
                           text=True, timeout=scaled(10))
        if r.returncode != 0:
            raise AssertionError("ip link set lo up in %s: %s" % (NS_NAME, r.stderr))

        cls._dir = tempfile.TemporaryDirectory(prefix="netprobe-scan-ns-")
        cls.addClassCleanup(cls._dir.cleanup)
        cls.log_path = os.path.join(cls._dir.name, "stderr.log")

        # The listeners.
        args = ["%s:%d" % (kind, port) for port, kind in sorted(NS_LISTENERS.items())]
        cls.listeners = subprocess.Popen(_ns(sys.executable, "-c", LISTENER_SCRIPT, *args),
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
        cls.addClassCleanup(cls._stop_listeners)
        ready, _, _ = select.select([cls.listeners.stdout], [], [], scaled(10))
        line = cls.listeners.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            raise AssertionError("the namespace's listeners did not start: %r %r"
                                 % (line, cls.listeners.stderr.read1(4096)
                                    if cls.listeners.poll() is not None else b""))

        # netprobe (ip netns exec execs it: the PID is netprobe's).
        cls.np_args = ["--bind", HOST, "--port", str(NS_HTTP_PORT),
                       "--listener-tcp-port", str(NS_TCP_PORT),
                       "--listener-udp-port", str(NS_UDP_PORT),
                       "--dns-server", "%s:%d" % (HOST, NS_DNS_PORT), "--workers", "2",
                       "--scan-concurrency-max", str(NS_CONCURRENCY_MAX)]
        with open(cls.log_path, "ab") as err:
            cls.proc = subprocess.Popen(_ns(harness.BIN, *cls.np_args), env=harness.clean_env(),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=err)
        cls.addClassCleanup(cls._stop_netprobe)
        deadline = time.monotonic() + scaled(10)
        last = None
        while True:
            if cls.proc.poll() is not None:
                raise AssertionError("netprobe in %s exited with %s before it was ready:\n%s"
                                     % (NS_NAME, cls.proc.returncode, cls._log_tail()))
            try:
                status, _ = cls.ns_http("GET", "/readyz", timeout=2)
                if status == 200:
                    break
                last = status
            except (AssertionError, subprocess.TimeoutExpired) as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError("netprobe in %s not ready within %ss (last: %s):\n%s"
                                     % (NS_NAME, scaled(10), last, cls._log_tail()))
            time.sleep(0.05)

    @classmethod
    def _log_tail(cls):
        try:
            with open(cls.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-20:])
        except OSError:
            return ""

    @classmethod
    def _stop_listeners(cls):
        p = cls.listeners
        if p.poll() is None:
            try:
                p.stdin.close()
                p.wait(timeout=scaled(5))
            except (OSError, subprocess.TimeoutExpired):
                p.kill()
                p.wait(timeout=10)
        for f in (p.stdout, p.stderr):
            f.close()

    @classmethod
    def _stop_netprobe(cls):
        p = cls.proc
        problems = []
        if p.poll() is None:
            try:
                status, _ = cls.ns_http("GET", "/healthz", timeout=5)
            except (AssertionError, subprocess.TimeoutExpired) as e:
                status = repr(e)
            if status != 200:
                problems.append("GET /healthz answered %s after the tests" % status)
            os.kill(p.pid, signal.SIGTERM)
            try:
                rc = p.wait(timeout=scaled(15))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
                rc = None
            if rc != 0:
                problems.append("netprobe in %s exited with %r after SIGTERM" % (NS_NAME, rc))
        else:
            problems.append("netprobe in %s died (%s) during the tests"
                            % (NS_NAME, p.returncode))
        with open(cls.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        if any(m in log for m in harness.Service.SANITIZER_MARKERS):
            problems.append("sanitizer report in the log")
        if problems:
            raise AssertionError("\n".join(problems) + "\n--- log tail ---\n" + cls._log_tail())

    @classmethod
    def _leftovers(cls):
        for p in (cls.proc, cls.listeners):
            if p is not None and p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        # Already gone after a normal run: ip's complaint is dropped.
        cls._del_ns()

    @classmethod
    def _del_ns(cls):
        subprocess.run(["ip", "netns", "del", NS_NAME], capture_output=True,
                       timeout=scaled(10))

    @classmethod
    def ns_http(cls, method, path, body=None, timeout=30):
        """One request to the namespace's netprobe, made by curl inside it ->
        (status, body bytes)."""
        cmd = _ns("curl", "-s", "-S", "--max-time", str(timeout), "-o", "-",
                  "-w", "\n%{http_code}", "-X", method)
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        cmd.append("http://%s:%d%s" % (HOST, NS_HTTP_PORT, path))
        r = subprocess.run(cmd, input=body or b"", capture_output=True,
                           timeout=timeout + scaled(5))
        if r.returncode != 0:
            raise AssertionError("curl in %s: exit %d, %s" % (NS_NAME, r.returncode,
                                                             r.stderr.decode(errors="replace")))
        data, _, code = r.stdout.rpartition(b"\n")
        return int(code), data

    def ns_scan(self, method="GET", timeout=None, **params):
        timeout = timeout or scaled(60)
        if method == "GET":
            status, data = self.ns_http("GET", "/scan?" + urllib.parse.urlencode(params),
                                        timeout=timeout)
        else:
            status, data = self.ns_http("POST", "/scan", json.dumps(params).encode(),
                                        timeout=timeout)
        doc = json.loads(data)
        self.assertEqual(status, 200, doc)
        return doc

    def assertNamed(self, entries):
        for port, name in ((22, "ssh"), (80, "http"), (8080, "http-alt")):
            if port in entries and SERVICES.get(port) == name:
                self.assertEqual(entries[port]["service"], name)

    def test_full_range(self):
        t0 = time.monotonic()
        doc = self.ns_scan(host=HOST, ports="1-65535", concurrency=512, timeout_ms=1000)
        elapsed = time.monotonic() - t0
        entries = self.assertScan(doc, requested=65535, open_ports=NS_OPEN,
                                  closed=65535 - len(NS_OPEN), filtered=0, unscanned=0,
                                  complete=True)
        self.assertNamed(entries)
        self.assertLess(elapsed, scaled(30))
        self.assertLess(doc["timing"]["total_ms"], scaled(30) * 1000)

    def test_well_known_ports_with_banners(self):
        t0 = time.monotonic()
        doc = self.ns_scan("POST", host=HOST, ports=["1-1024"], concurrency=NS_CONCURRENCY_MAX,
                           banner=True, banner_ms=300)
        elapsed = time.monotonic() - t0
        low = [p for p in NS_OPEN if p <= 1024]
        entries = self.assertScan(doc, requested=1024, open_ports=low, closed=1024 - len(low),
                                  filtered=0, unscanned=0, complete=True, banner=True)
        self.assertNamed(entries)
        self.assertEqual(entries[22]["banner"], expect_banner(SSH_BANNER))
        self.assertEqual(entries[80]["banner"], EMPTY_BANNER)
        self.assertLess(elapsed, scaled(10))

    def test_service_names(self):
        for port, name in ((22, "ssh"), (8080, "http-alt"), (80, "http")):
            if SERVICES.get(port) != name:
                self.skipTest("/etc/services does not name %d/tcp %s" % (port, name))
        doc = self.ns_scan(host=HOST, ports="8080,22,80,%d" % NS_TCP_PORT)
        entries = self.assertScan(doc, requested=4, open_ports=sorted([22, 80, 8080,
                                                                       NS_TCP_PORT]))
        self.assertEqual(entries[22]["service"], "ssh")
        self.assertEqual(entries[80]["service"], "http")
        self.assertEqual(entries[8080]["service"], "http-alt")

    def test_concurrency_over_the_max(self):
        status, data = self.ns_http("GET", "/scan?host=127.0.0.1&ports=22&concurrency=%d"
                                    % (NS_CONCURRENCY_MAX + 1))
        self.assertEqual(status, 400, data)
        self.assertEqual(json.loads(data)["parameter"], "concurrency")


if __name__ == "__main__":
    unittest.main()
