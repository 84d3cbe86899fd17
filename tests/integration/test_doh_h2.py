"""
test_doh_h2.py - DNS over HTTPS over HTTP/2 on --doh-port (service/h2.c).

libmicrohttpd speaks HTTP/1.1 only, and some DoH clients (kdig 3.2) speak
only HTTP/2, so the service has a second TLS listener for them. These tests
run the real binary with --doh-port and a CA made by the test, against NSD
serving np.test. (dnsfixture.py), and check it with real clients and raw
sockets:

  - kdig +https (POST and GET) gets the A record, the big TXT whole, and
    NXDOMAIN; curl --http2 negotiates HTTP/2 and gets the client's id and
    max-age; curl --doh-url resolves a name only NSD knows;
  - 404, 405 (with Allow), 413, 414, 415 and 400 as problem+json; /healthz;
  - 50 streams on one connection, all answered; a stream reset or a
    connection closed while the resolver works cancels the exchange;
  - a silent client is disconnected after --connection-timeout, a client
    that keeps talking is not, connections past the per-worker share of
    --max-connections are closed at once, TLS garbage and non-HTTP/2 bytes only close
    their own connection, ALPN without h2 is refused;
  - --doh-port without TLS exits 2 naming the flag, a busy port exits 1;
  - --rate-limit takes DoH requests from the same per-client buckets as the
    API port: 429 problem+json with retry-after, /healthz never limited;
  - /metrics counts the streams; SIGTERM with connections open and a stream
    waiting on the resolver answers it, closes the rest, exits 0.

Traffic goes only to 127.0.0.1 and to ports these tests opened; only the
processes started here are stopped, by PID. Every wait is time-bounded
(tripled under NETPROBE_SANITIZED=1).
"""
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest

import dnsfixture
import harness
from harness import HOST, ServiceTestCase, free_port, run_netprobe, scaled
from test_dns import b64url, build_query, parse_message

DOH = "application/dns-message"
PROBLEM = "application/problem+json"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_DATA = 0x0
FRAME_HEADERS = 0x1
FRAME_RST_STREAM = 0x3
FRAME_SETTINGS = 0x4
FRAME_PING = 0x6
FRAME_GOAWAY = 0x7

# status -> (problem type slug, title), as service/server.c makes them.
PROBLEMS = {400: ("invalid-parameter", "Bad Request"), 404: ("not-found", "Not Found"),
            405: ("method-not-allowed", "Method Not Allowed"),
            413: ("body-too-large", "Content Too Large"), 414: ("uri-too-long", "URI Too Long"),
            415: ("unsupported-media-type", "Unsupported Media Type"),
            429: ("rate-limited", "Too Many Requests")}

NS = None
HAVE_CURL = shutil.which("curl") is not None
HAVE_KDIG = shutil.which("kdig") is not None


def setUpModule():
    global NS
    NS = dnsfixture.NsdServer().start()


def tearDownModule():
    if NS is not None:
        NS.stop()


def frame(ftype, flags=0, stream=0, payload=b""):
    """One HTTP/2 frame (RFC 9113 section 4.1)."""
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def parse_frames(data):
    """Bytes from the server -> [(type, flags, stream, payload)] (whole frames)."""
    out, off = [], 0
    while off + 9 <= len(data):
        length = int.from_bytes(data[off:off + 3], "big")
        if off + 9 + length > len(data):
            break
        ftype, flags = data[off + 3], data[off + 4]
        stream = int.from_bytes(data[off + 5:off + 9], "big") & 0x7FFFFFFF
        out.append((ftype, flags, stream, data[off + 9:off + 9 + length]))
        off += 9 + length
    return out


def hpack_int(value, prefix_bits, first=0):
    """An HPACK integer (RFC 7541 section 5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_str(text):
    data = text.encode("ascii")
    return hpack_int(len(data), 7) + data  # no Huffman coding


def request_headers(path, method="GET"):
    """An HPACK block for method https://localhost{path}: static table
    entries for :method and :scheme, literals with indexed names for :path
    (4) and :authority (1), none added to the dynamic table."""
    return ({"GET": b"\x82", "POST": b"\x83"}[method] + b"\x87" + hpack_int(4, 4) +
            hpack_str(path) + hpack_int(1, 4) + hpack_str("localhost"))


def tls_context(ca, alpn=("h2",)):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def read_to_eof(sock, timeout):
    """Everything the server sends until it closes (TLS or TCP), within
    timeout seconds; fails if it does not close."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("the server did not close within %.1f s (got %d bytes)"
                                 % (timeout, len(data)))
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            return bytes(data)
        except socket.timeout:
            continue
        if not b:
            return bytes(data)
        data += b


class H2Case(ServiceTestCase):
    """TLS material for the class, and helpers for curl, kdig and raw h2."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="netprobe-h2-")
        cls.tls = harness.make_tls_material(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def start_h2(self, args=(), **kw):
        """A service of this test with --doh-port; returns (svc, doh_port)."""
        port = free_port()
        args = ["--dns-server", NS.address, "--doh-port", str(port)] + list(args)
        return self.start_service(args, tls=self.tls, **kw), port

    def run_tool(self, args, timeout=20):
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        try:
            return subprocess.run(args, capture_output=True, env=env, timeout=scaled(timeout),
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("%s did not finish: %s" % (args, e.stderr)) from None

    def curl(self, port, path, *extra):
        """curl --http2 against the DoH port -> (status, http_version,
        Headers, body bytes)."""
        with tempfile.TemporaryDirectory(prefix="netprobe-curl-") as d:
            hdr, body = os.path.join(d, "headers"), os.path.join(d, "body")
            r = self.run_tool(["curl", "-sS", "--noproxy", "*", "--http2",
                               "--cacert", self.tls["ca_cert"], "--max-time", str(scaled(15)),
                               "-D", hdr, "-o", body, "-w", "%{http_code} %{http_version}"]
                              + list(extra) + ["https://%s:%d%s" % (HOST, port, path)])
            self.assertEqual(r.returncode, 0, r.stderr)
            status, version = r.stdout.decode().split()
            pairs = []
            with open(hdr, encoding="latin-1") as f:
                for line in f.read().splitlines()[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        pairs.append((name.strip(), value.strip()))
            with open(body, "rb") as f:
                data = f.read()
        return int(status), version, harness.Headers(pairs), data

    def kdig(self, port, *args):
        r = self.run_tool(["kdig", "@127.0.0.1", "-p", str(port),
                           "+tls-ca=%s" % self.tls["ca_cert"], "+tls-hostname=localhost",
                           "+timeout=%d" % scaled(5), "+retry=0"] + list(args))
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def h2_connect(self, port, alpn=("h2",)):
        """A TLS connection that has sent the HTTP/2 preface and an empty
        SETTINGS, and read the server's SETTINGS."""
        raw = socket.create_connection((HOST, port), timeout=scaled(5))
        s = tls_context(self.tls["ca_cert"], alpn).wrap_socket(raw, server_hostname="localhost")
        self.assertEqual(s.selected_alpn_protocol(), "h2")
        s.sendall(PREFACE + frame(FRAME_SETTINGS))
        data = bytearray()
        deadline = time.monotonic() + scaled(5)
        while not any(f[0] == FRAME_SETTINGS and not f[1] & 1 for f in parse_frames(bytes(data))):
            if time.monotonic() > deadline:
                raise AssertionError("no SETTINGS from the server: %r" % bytes(data))
            s.settimeout(max(0.05, deadline - time.monotonic()))
            data += s.recv(65536)
        return s

    def assertProblemH2(self, answer, status, instance, param=None, allow=None):
        code, version, headers, body = answer
        self.assertEqual((code, version), (status, "2"))
        self.assertEqual(headers["content-type"], PROBLEM)
        self.assertEqual(headers["content-length"], str(len(body)))
        doc = json.loads(body)
        slug, title = PROBLEMS[status]
        self.assertEqual(doc["type"], "https://netprobe.dev/problems/" + slug)
        self.assertEqual(doc["title"], title)
        self.assertEqual(doc["status"], status)
        self.assertEqual(doc["instance"], instance)
        self.assertEqual(doc["request_id"], headers["x-request-id"])
        self.assertIsInstance(doc["detail"], str)
        self.assertTrue(doc["detail"])
        keys = {"type", "title", "status", "detail", "instance", "request_id"}
        if param is not None:
            keys.add("parameter")
            self.assertEqual(doc["parameter"], param)
        self.assertEqual(set(doc), keys)
        self.assertEqual(headers.get("allow"), allow)
        return doc

    def assertWww(self, answer, qid):
        code, version, headers, body = answer
        self.assertEqual((code, version), (200, "2"), body[:300])
        self.assertEqual(headers["content-type"], DOH)
        self.assertEqual(headers["cache-control"], "max-age=300")
        self.assertEqual(headers["content-length"], str(len(body)))
        m = parse_message(body)
        self.assertEqual(m["id"], qid)
        self.assertEqual((m["qr"], m["aa"], m["rcode"]), (1, 1, 0))
        self.assertEqual(m["question"], [("www.np.test.", 1, 1)])
        self.assertEqual([a["rdata"] for a in m["answer"]], [socket.inet_aton(dnsfixture.WWW_A)])


class ClientTests(H2Case):
    """Real DoH clients against one shared service."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.port = free_port()
        cls.svc = cls.start_class_service(["--dns-server", NS.address,
                                           "--doh-port", str(cls.port)], tls=cls.tls)

    @unittest.skipUnless(HAVE_KDIG, "kdig is not installed")
    def test_kdig_post_and_get(self):
        for method in ([], ["+https-get"]):
            with self.subTest(method=method or "POST"):
                rc, out, err = self.kdig(self.port, "+https", *method, "+short", "web.np.test", "A")
                self.assertEqual(rc, 0, err + out)
                self.assertEqual(out.split(), [dnsfixture.WEB_A], err + out)

    @unittest.skipUnless(HAVE_KDIG, "kdig is not installed")
    def test_kdig_big_txt_whole(self):
        rc, out, err = self.kdig(self.port, "+https", "+short", "bigtxt.np.test", "TXT")
        self.assertEqual(rc, 0, err + out)
        self.assertEqual(out.split(), ['"%s"' % s for s in dnsfixture.BIG_TXT_STRINGS])

    @unittest.skipUnless(HAVE_KDIG, "kdig is not installed")
    def test_kdig_nxdomain(self):
        rc, out, err = self.kdig(self.port, "+https", "nothere.np.test", "A")
        self.assertEqual(rc, 0, err + out)
        self.assertIn("status: NXDOMAIN", out)
        self.assertIn("HTTP/2", out)

    @unittest.skipUnless(HAVE_CURL, "curl is not installed")
    def test_curl_get_is_http2(self):
        self.assertWww(self.curl(self.port, "/dns-query?dns=" + b64url(build_query("www.np.test"))),
                       0xBEEF)

    @unittest.skipUnless(HAVE_CURL, "curl is not installed")
    def test_curl_post(self):
        with tempfile.NamedTemporaryFile(prefix="netprobe-q-") as f:
            f.write(build_query("www.np.test", qid=0x1234))
            f.flush()
            self.assertWww(self.curl(self.port, "/dns-query", "-H", "content-type: " + DOH,
                                     "--data-binary", "@" + f.name), 0x1234)

    @unittest.skipUnless(HAVE_CURL, "curl is not installed")
    def test_curl_percent_encoded_padding(self):
        data = base64.urlsafe_b64encode(build_query("www.np.test", qid=7)).decode()
        self.assertWww(self.curl(self.port, "/dns-query?x=1&dns=" + data.replace("=", "%3D")), 7)

    @unittest.skipUnless(HAVE_CURL, "curl is not installed")
    def test_curl_resolves_through_doh(self):
        web = harness.WebPage(
            ("fetched through the h2 DoH port %d\n" % os.getpid()).encode()).start()
        try:
            port = web.port
            r = self.run_tool(["curl", "-sS", "--noproxy", "*", "--max-time", str(scaled(15)),
                               "--doh-insecure", "--doh-url",
                               "https://127.0.0.1:%d/dns-query" % self.port,
                               "http://web.np.test:%d/" % port])
        finally:
            web.stop()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, web.body)
        self.assertIn("web.np.test:%d" % port, web.hosts)

    @unittest.skipUnless(HAVE_CURL, "curl is not installed")
    def test_healthz(self):
        code, version, headers, body = self.curl(self.port, "/healthz")
        self.assertEqual((code, version), (200, "2"))
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(json.loads(body), {"status": "ok"})

    @unittest.skipUnless(HAVE_CURL, "curl is not installed")
    def test_errors(self):
        self.assertProblemH2(self.curl(self.port, "/nope"), 404, "/nope")
        self.assertProblemH2(self.curl(self.port, "/metrics"), 404, "/metrics")
        self.assertProblemH2(self.curl(self.port, "/dns-query", "-X", "PUT"), 405, "/dns-query",
                             allow="GET, POST")
        self.assertProblemH2(self.curl(self.port, "/healthz", "-X", "POST"), 405, "/healthz",
                             allow="GET")
        for path in ("/dns-query", "/dns-query?dns=", "/dns-query?dns=%21%21%21",
                     "/dns-query?dns=AAAA"):
            with self.subTest(path=path):
                self.assertProblemH2(self.curl(self.port, path), 400, "/dns-query", param="dns")
        self.assertProblemH2(
            self.curl(self.port, "/dns-query?dns=" + "A" * 20000), 414, "/dns-query")
        with tempfile.TemporaryDirectory(prefix="netprobe-body-") as d:
            query, big = os.path.join(d, "query"), os.path.join(d, "big")
            with open(query, "wb") as f:
                f.write(build_query("www.np.test"))
            with open(big, "wb") as f:
                f.write(b"\0" * 70000)
            answer = self.curl(self.port, "/dns-query", "-H", "content-type: text/plain",
                               "--data-binary", "@" + query)
            self.assertProblemH2(answer, 415, "/dns-query", param="Content-Type")
            # With a Content-Length over the cap, and streamed without one.
            self.assertProblemH2(self.curl(self.port, "/dns-query", "-H", "content-type: " + DOH,
                                           "--data-binary", "@" + big),
                                 413, "/dns-query", param="body")
            self.assertProblemH2(self.curl(self.port, "/dns-query", "-H", "content-type: " + DOH,
                                           "-H", "Transfer-Encoding: chunked",
                                           "--data-binary", "@" + big),
                                 413, "/dns-query", param="body")
            doc = self.assertProblemH2(self.curl(self.port, "/dns-query", "-H",
                                                 "content-type: " + DOH, "--data-binary", ""),
                                       400, "/dns-query", param="dns")
            self.assertEqual(doc["detail"], "malformed DNS message: the message is 0 bytes, "
                                            "shorter than a DNS header (12)")
            resp = build_query("www.np.test", flags=0x8100)
            with open(query, "wb") as f:
                f.write(resp)
            self.assertProblemH2(self.curl(self.port, "/dns-query", "-H", "content-type: " + DOH,
                                           "--data-binary", "@" + query),
                                 400, "/dns-query", param="dns")
        # The service answers normally afterwards.
        self.assertWww(self.curl(self.port, "/dns-query?dns=" + b64url(build_query("www.np.test"))),
                       0xBEEF)

    @unittest.skipUnless(HAVE_CURL, "curl is not installed")
    def test_50_streams_on_one_connection(self):
        n = 50
        with tempfile.TemporaryDirectory(prefix="netprobe-par-") as d:
            args = []
            for i in range(n):
                args += ["-o", os.path.join(d, "a%d" % i),
                         "https://%s:%d/dns-query?dns=%s" % (HOST, self.port,
                                                             b64url(build_query("www.np.test",
                                                                                qid=1000 + i)))]
            r = self.run_tool(["curl", "-sS", "--noproxy", "*", "--http2", "--cacert",
                               self.tls["ca_cert"], "--max-time", str(scaled(20)), "-Z",
                               "--parallel-max", str(n),
                               "-w", "%{http_code} %{http_version} %{num_connects}\\n"] + args)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = [ln.split() for ln in r.stdout.decode().splitlines()]
            self.assertEqual(len(lines), n, r.stdout)
            self.assertEqual({(ln[0], ln[1]) for ln in lines}, {("200", "2")})
            self.assertEqual(sum(int(ln[2]) for ln in lines), 1, "not one connection")
            for i in range(n):
                with open(os.path.join(d, "a%d" % i), "rb") as f:
                    m = parse_message(f.read())
                self.assertEqual(m["id"], 1000 + i)
                self.assertEqual([a["rdata"] for a in m["answer"]],
                                 [socket.inet_aton(dnsfixture.WWW_A)])

    def test_alpn_without_h2_is_refused(self):
        raw = socket.create_connection((HOST, self.port), timeout=scaled(5))
        try:
            with self.assertRaises((ssl.SSLError, ConnectionResetError)):
                tls_context(self.tls["ca_cert"], ("http/1.1",)).wrap_socket(
                    raw, server_hostname="localhost")
        finally:
            raw.close()


class ConnectionTests(H2Case):
    """Timeouts, garbage and shutdown, each with its own service."""

    # --connection-timeout in seconds: 1, or 3 under sanitizers.
    IDLE = scaled(1)

    def test_silent_client_is_disconnected(self):
        svc, port = self.start_h2(["--connection-timeout", str(self.IDLE)])
        # Nothing at all: not even a TLS handshake.
        with socket.create_connection((HOST, port), timeout=scaled(5)) as s:
            t = time.monotonic()
            read_to_eof(s, self.IDLE + scaled(5))
            self.assertGreaterEqual(time.monotonic() - t, self.IDLE - 0.1)
        # A handshake and the HTTP/2 preface, then silence: a GOAWAY, then EOF.
        s = self.h2_connect(port)
        try:
            t = time.monotonic()
            frames = parse_frames(read_to_eof(s, self.IDLE + scaled(5)))
            self.assertGreaterEqual(time.monotonic() - t, self.IDLE - 0.1)
            goaway = [f for f in frames if f[0] == FRAME_GOAWAY]
            self.assertEqual(len(goaway), 1, frames)
            self.assertEqual(struct.unpack(">II", goaway[0][3][:8]), (0, 0))  # NO_ERROR
        finally:
            s.close()
        self.assertEqual(svc.get("/healthz")[0], 200)

    def test_talking_client_is_not_idle(self):
        svc, port = self.start_h2(["--connection-timeout", str(self.IDLE)])
        s = self.h2_connect(port)
        try:
            # PINGs every 0.3 s for 2.5 timeouts: each is answered, none is
            # the last.
            data = bytearray()
            end = time.monotonic() + 2.5 * self.IDLE
            sent = 0
            while time.monotonic() < end:
                sent += 1
                s.sendall(frame(FRAME_PING, payload=struct.pack(">Q", sent)))
                deadline = time.monotonic() + scaled(3)
                while sum(1 for f in parse_frames(bytes(data)) if f[0] == FRAME_PING) < sent:
                    self.assertLess(time.monotonic(), deadline, "PING %d unanswered" % sent)
                    s.settimeout(scaled(3))
                    b = s.recv(65536)
                    self.assertTrue(b, "closed while the client was talking")
                    data += b
                time.sleep(0.3)
            self.assertFalse([f for f in parse_frames(bytes(data)) if f[0] == FRAME_GOAWAY])
            # Then silence: closed.
            read_to_eof(s, self.IDLE + scaled(5))
        finally:
            s.close()
        self.assertEqual(svc.get("/healthz")[0], 200)

    def test_connection_cap(self):
        # --max-connections over --workers: 2 per worker here.
        svc, port = self.start_h2(["--max-connections", "2"], workers=1)
        held = [self.h2_connect(port) for _ in range(2)]
        try:
            # The third is closed at once, before any TLS.
            with socket.create_connection((HOST, port), timeout=scaled(5)) as s:
                t = time.monotonic()
                self.assertEqual(read_to_eof(s, scaled(5)), b"")
                self.assertLess(time.monotonic() - t, scaled(2))
            # With one gone, a new one is served.
            held.pop().close()
            deadline = time.monotonic() + scaled(5)
            while True:
                try:
                    held.append(self.h2_connect(port))
                    break
                except (OSError, AssertionError):
                    self.assertLess(time.monotonic(), deadline, "no room after a close")
                    time.sleep(0.05)
        finally:
            for s in held:
                s.close()
        self.assertEqual(svc.get("/healthz")[0], 200)

    @unittest.skipUnless(HAVE_CURL, "curl is not installed")
    def test_garbage_only_closes_its_connection(self):
        svc, port = self.start_h2()
        # Plain HTTP/1.1 and random bytes where a TLS ClientHello belongs.
        for junk in (b"GET /dns-query HTTP/1.1\r\nHost: x\r\n\r\n", b"\0\1\2junk" * 800,
                     b"\x16\x03\x01\xff\xff" + b"\x42" * 300):
            with socket.create_connection((HOST, port), timeout=scaled(5)) as s:
                try:
                    s.sendall(junk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                read_to_eof(s, scaled(5))
        # TLS is fine, then no HTTP/2 preface but garbage.
        raw = socket.create_connection((HOST, port), timeout=scaled(5))
        s = tls_context(self.tls["ca_cert"]).wrap_socket(raw, server_hostname="localhost")
        try:
            s.sendall(b"this is not HTTP/2 at all\r\n\r\n" * 10)
            read_to_eof(s, scaled(5))
        finally:
            s.close()
        # A valid preface, then a frame that breaks the protocol (DATA on
        # stream 0): the server says GOAWAY and closes.
        s = self.h2_connect(port)
        try:
            s.sendall(frame(0x0, 0, 0, b"xx"))
            frames = parse_frames(read_to_eof(s, scaled(5)))
            self.assertIn(FRAME_GOAWAY, [f[0] for f in frames])
        finally:
            s.close()
        self.assertTrue(svc.running())
        self.assertWww(self.curl(port, "/dns-query?dns=" + b64url(build_query("www.np.test"))),
                       0xBEEF)

    @unittest.skipUnless(HAVE_CURL, "curl is not installed")
    def test_rate_limit_shared_with_the_api_port(self):
        svc, port = self.start_h2(["--rate-limit", "1", "--rate-burst", "2"])
        path = "/dns-query?dns=" + b64url(build_query("www.np.test"))
        # The client empties its bucket on the HTTP/1.1 port...
        for _ in range(2):
            self.assertEqual(svc.get("/policy/check?target=192.0.2.1")[0], 200)
        # ...and the DoH port, another listener on other workers' loops,
        # finds it empty.
        answer = self.curl(port, path)
        doc = self.assertProblemH2(answer, 429, "/dns-query")
        self.assertEqual(answer[2]["retry-after"], "1")
        self.assertEqual(doc["detail"], "too many requests from 127.0.0.1: at most 1 per "
                         "second in bursts of 2 (--rate-limit, --rate-burst); retry in 1 s")
        self.assertEqual(self.curl(port, "/healthz")[0], 200)
        status, _, _ = svc.get(path)
        self.assertEqual(status, 429)
        self.assertEqual(svc.metric("netprobe_http_requests_total", route="/dns-query",
                                    method="GET", status="429"), 2.0)
        self.assertEqual(svc.metric("netprobe_rate_limited_requests_total"), 2.0)
        # After Retry-After, served again.
        time.sleep(1)
        self.assertWww(self.curl(port, path), 0xBEEF)

    @unittest.skipUnless(HAVE_CURL, "curl is not installed")
    def test_metrics_count_streams(self):
        svc, port = self.start_h2()
        q = b64url(build_query("www.np.test"))
        for _ in range(3):
            self.assertEqual(self.curl(port, "/dns-query?dns=" + q)[0], 200)
        with tempfile.NamedTemporaryFile(prefix="netprobe-q-") as f:
            f.write(build_query("nothere.np.test"))
            f.flush()
            self.assertEqual(self.curl(port, "/dns-query", "-H", "content-type: " + DOH,
                                       "--data-binary", "@" + f.name)[0], 200)
        self.assertEqual(self.curl(port, "/nope")[0], 404)
        self.assertEqual(self.curl(port, "/dns-query", "-X", "DELETE")[0], 405)
        self.assertEqual(self.curl(port, "/healthz")[0], 200)
        m = svc.metrics()

        def requests(route, method, status):
            return m.get(("netprobe_http_requests_total",
                          frozenset({("route", route), ("method", method),
                                     ("status", status)})))

        self.assertEqual(requests("/dns-query", "GET", "200"), 3.0, m)
        self.assertEqual(requests("/dns-query", "POST", "200"), 1.0, m)
        self.assertEqual(requests("unmatched", "any", "404"), 1.0, m)
        self.assertEqual(requests("unmatched", "any", "405"), 1.0, m)
        self.assertEqual(requests("/healthz", "GET", "200"), 1.0, m)
        probes = {(dict(k[1])["outcome"]): v for k, v in m.items()
                  if k[0] == "netprobe_probes_total" and dict(k[1]).get("kind") == "doh"}
        self.assertEqual(probes, {"NOERROR": 3.0, "NXDOMAIN": 1.0})
        # Nothing left in flight but the /metrics request itself (MHD may
        # still be finishing the previous scrape on the other worker: poll).
        svc.wait_metric("netprobe_http_requests_in_flight", lambda v: v == 1)

    @unittest.skipUnless(HAVE_CURL, "curl is not installed")
    def test_sigterm_with_connections_open(self):
        silent = dnsfixture.SilentServer().start()
        try:
            svc, port = self.start_h2(["--dns-server", "127.0.0.1:%d" % silent.port,
                                       "--default-timeout-ms", "1500"])
            idle = [self.h2_connect(port) for _ in range(3)]
            env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
            with tempfile.TemporaryDirectory(prefix="netprobe-term-") as d:
                out = os.path.join(d, "answer")
                waiting = subprocess.Popen(
                    ["curl", "-sS", "--noproxy", "*", "--http2", "--cacert", self.tls["ca_cert"],
                     "--max-time", str(scaled(20)), "-o", out, "-w", "%{http_code} %{http_version}",
                     "https://%s:%d/dns-query?dns=%s" % (HOST, port,
                                                         b64url(build_query("www.np.test",
                                                                            qid=0x4242)))],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                    stdin=subprocess.DEVNULL)
                try:
                    # The stream waits on the silent resolver once its query
                    # has reached it.
                    deadline = time.monotonic() + scaled(10)
                    while silent.received == 0:
                        self.assertLess(time.monotonic(), deadline, "no query reached the resolver")
                        time.sleep(0.02)
                    svc.send_signal(signal.SIGTERM)
                    for s in idle:
                        frames = parse_frames(read_to_eof(s, scaled(5)))
                        self.assertIn(FRAME_GOAWAY, [f[0] for f in frames])
                    stdout, stderr = waiting.communicate(timeout=scaled(20))
                finally:
                    if waiting.poll() is None:
                        waiting.kill()
                        waiting.wait(timeout=10)
                    for s in idle:
                        s.close()
                self.assertEqual(waiting.returncode, 0, stderr)
                self.assertEqual(stdout.decode(), "200 2")
                with open(out, "rb") as f:
                    m = parse_message(f.read())
                self.assertEqual((m["id"], m["rcode"]), (0x4242, 2))  # SERVFAIL
            self.assertEqual(svc.wait(scaled(15)), 0, "\n".join(svc.log_lines()[-20:]))
        finally:
            silent.stop()


class RawStreamTests(H2Case):
    """Streams driven frame by frame, where curl cannot go."""

    def read_until(self, s, predicate, timeout=5):
        """Reads frames until predicate(frames) holds; returns the frames."""
        data = bytearray()
        deadline = time.monotonic() + scaled(timeout)
        while True:
            frames = parse_frames(bytes(data))
            if predicate(frames):
                return frames
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "condition not met; frames: %r" % frames[-5:])
            s.settimeout(left)
            b = s.recv(65536)
            self.assertTrue(b, "the server closed the connection")
            data += b

    def test_50_streams_in_one_write(self):
        svc, port = self.start_h2()
        s = self.h2_connect(port)
        try:
            ids = list(range(1, 101, 2))
            s.sendall(b"".join(
                frame(FRAME_HEADERS, 0x5, sid, request_headers(
                    "/dns-query?dns=" + b64url(build_query("www.np.test", qid=sid))))
                for sid in ids))
            frames = self.read_until(s, lambda fs: {f[2] for f in fs if f[1] & 1 and
                                                    f[0] in (FRAME_DATA, FRAME_HEADERS)}
                                     >= set(ids))
            for sid in ids:
                body = b"".join(f[3] for f in frames if f[0] == FRAME_DATA and f[2] == sid)
                m = parse_message(body)
                self.assertEqual(m["id"], sid)
                self.assertEqual([a["rdata"] for a in m["answer"]],
                                 [socket.inet_aton(dnsfixture.WWW_A)])
            self.assertFalse([f for f in frames if f[0] in (FRAME_RST_STREAM, FRAME_GOAWAY)])
        finally:
            s.close()

    def test_reset_or_closed_while_resolving(self):
        silent = dnsfixture.SilentServer().start()
        try:
            svc, port = self.start_h2(["--dns-server", "127.0.0.1:%d" % silent.port,
                                       "--default-timeout-ms", "4000"])
            path = "/dns-query?dns=" + b64url(build_query("www.np.test"))
            # RST_STREAM (CANCEL) while the resolver is silent: the exchange
            # is cancelled, the stream counted 499, the connection goes on.
            s = self.h2_connect(port)
            try:
                s.sendall(frame(FRAME_HEADERS, 0x5, 1, request_headers(path)))
                svc.wait_metric("netprobe_http_requests_in_flight", lambda v: v >= 2)
                s.sendall(frame(FRAME_RST_STREAM, 0, 1, struct.pack(">I", 0x8)))
                svc.wait_metric("netprobe_http_requests_total", lambda v: v == 1,
                                route="/dns-query", method="GET", status="499")
                s.sendall(frame(FRAME_HEADERS, 0x5, 3, request_headers("/healthz")))
                frames = self.read_until(s, lambda fs: any(f[2] == 3 and f[1] & 1 for f in fs))
                self.assertFalse([f for f in frames if f[2] == 1 and f[0] != FRAME_RST_STREAM])
            finally:
                s.close()
            # The connection closed while resolving: the same.
            s = self.h2_connect(port)
            s.sendall(frame(FRAME_HEADERS, 0x5, 1, request_headers(path)))
            svc.wait_metric("netprobe_http_requests_in_flight", lambda v: v >= 2)
            s.close()
            svc.wait_metric("netprobe_http_requests_total", lambda v: v == 2,
                            route="/dns-query", method="GET", status="499")
            # Only the /metrics request itself (MHD may still be finishing
            # the previous scrape on the other worker: poll).
            svc.wait_metric("netprobe_http_requests_in_flight", lambda v: v == 1)
            # Cancelled exchanges are no probe outcome.
            self.assertIsNone(svc.metric("netprobe_probes_total", kind="doh", outcome="timeout"))
        finally:
            silent.stop()


class ConfigTests(H2Case):

    def safe_args(self):
        return ["--port", str(free_port()), "--listener-tcp-port", str(free_port()),
                "--listener-udp-port", str(free_port()), "--workers", "1"]

    def test_doh_port_needs_tls(self):
        want = ("netprobe: --doh-port: DNS over HTTPS needs TLS: give --tls-cert and --tls-key "
                "too\n")
        r = run_netprobe(self.safe_args() + ["--doh-port", str(free_port())])
        self.assertEqual((r.returncode, r.stderr, r.stdout), (2, want, ""))
        # Set through the environment, the message names the variable.
        r = run_netprobe(self.safe_args(), env={"NETPROBE_DOH_PORT": str(free_port())})
        self.assertEqual((r.returncode, r.stderr),
                         (2, want.replace("--doh-port:", "NETPROBE_DOH_PORT:", 1)))

    def test_doh_port_is_not_the_api_port(self):
        args = self.safe_args()
        r = run_netprobe(args + ["--doh-port", args[1], "--tls-cert", self.tls["cert"],
                                 "--tls-key", self.tls["key"]])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr, "netprobe: --doh-port: %s is also the --port of the HTTP API\n"
                         % args[1])

    def test_doh_port_in_use(self):
        with socket.socket() as s:
            s.bind((HOST, 0))
            s.listen(1)
            port = s.getsockname()[1]
            r = run_netprobe(self.safe_args() + ["--doh-port", str(port), "--tls-cert",
                                                 self.tls["cert"], "--tls-key", self.tls["key"]])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr, "netprobe: --doh-port: cannot use 127.0.0.1:%d (tcp): "
                                   "Address already in use\n" % port)

    def test_help_and_env(self):
        r = run_netprobe(["--help"])
        self.assertIn("--doh-port=N", r.stdout)
        self.assertIn("default: 0; env NETPROBE_DOH_PORT", r.stdout)
        port = free_port()
        svc = self.start_service(["--dns-server", NS.address], tls=self.tls,
                                 env={"NETPROBE_DOH_PORT": str(port)})
        if HAVE_KDIG:
            rc, out, err = self.kdig(port, "+https", "+short", "www.np.test", "A")
            self.assertEqual((rc, out.split()), (0, [dnsfixture.WWW_A]), err)
        self.assertEqual(svc.get("/healthz")[0], 200)


if __name__ == "__main__":
    unittest.main()
