"""
test_fetch.py - GET /fetch and POST /fetch, an HTTP/HTTPS request through
libcurl, against real servers on loopback: Python http.server pages these
tests start (plain and wrapped in ssl with a CA made by the test, one
recording every request's method, path, headers and body, one on
127.0.0.1 and ::1 with the same port for "localhost"), nginx for HTTP/2
over TLS, small TCP servers that never answer or close without answering,
held ports that refuse, and NSD (dnsfixture.py) for host names.

Checked, field by field against the spec: the answer's shape (url,
final_url, address, status, status_code, http_version, headers lower-cased
in order, body as text or base64 with truncated, redirects, tls only for
https, timing in order with resolve 0 for an address literal), HEAD, every
method, POST/PUT/PATCH bodies (text and body_base64) and custom headers as
the server received them (Host and User-Agent may be set), chunked answers,
max_body_bytes (0, exact, cut, a character cut), redirects (follow 0, a
2-hop chain followed, partly followed, a loop, relative Location, a
redirect to a denied address ending as denied_by_policy with no traffic
sent, redirects to ftp:// and file:// never fetched), HTTPS with
--fetch-ca-file (tls version, cipher, verified, the certificate), without
it (tls_error), insecure (verified false with verify_error), a name the
certificate does not cover, http -> https redirects, HTTP/2 through ALPN
(nginx) and the fallback to 1.1 (plain http, a TLS server without h2),
refused ports, timeouts, a server closing without an answer, localhost,
IPv6, DNS names (not_found, every address judged by the target policy),
proxies in the environment never used, every 400 with the parameter it
names (GET and POST), the 403 of the default policy, --auth-token,
--rate-limit, the probe metrics (kind="fetch"), slow fetches that must not
block the worker's loop, and a service that still answers /healthz and
exits 0 on SIGTERM afterwards.

Traffic goes only to 127.0.0.0/8 / ::1 and to ports these tests opened
(servers started here, or sockets bound here; a "refused" port is a socket
of ours bound but not listening). Only processes these tests start (the
service, NSD, nginx) are stopped, by PID. Every wait is time-bounded
(tripled under NETPROBE_SANITIZED=1).
"""
import base64
import collections
import http.server
import json
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import dnsfixture
import harness
from harness import HOST, SCALE, ServiceTestCase, free_port, scaled
from peers import TcpPeer, family, ms, read_until_eof, refused_tcp_port

JSON_HEADERS = {"Content-Type": "application/json"}

FETCH_KEYS = {"url", "final_url", "address", "status", "status_code", "http_version",
              "headers", "body", "redirects", "timing"}
BODY_KEYS = {"bytes", "encoding", "data", "truncated"}
REDIRECT_KEYS = {"url", "status_code", "location"}
TLS_KEYS = {"version", "cipher", "verified", "certificate"}
CERT_KEYS = {"subject", "issuer", "not_before", "not_after", "days_left", "san"}
TIMING_ORDER = ("resolve_ms", "connect_ms", "tls_ms", "ttfb_ms", "total_ms")
EMPTY_BODY = {"bytes": 0, "encoding": "text", "data": "", "truncated": False}
MAX_BODY = 16777216
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")

V6 = dnsfixture.ipv6_loopback_works()

# The page every Site serves at /: its headers are sent exactly so, in this
# order (a repeated one included), and come back lower-cased in order.
PAGE = b"<h1>hello from the fetch page</h1>\n"
PAGE_HEADERS = [("Content-Type", "text/html; charset=utf-8"),
                ("X-Test-Header", "Mixed Case Value"),
                ("X-Multi", "one"), ("X-Multi", "two"),
                ("Content-Length", str(len(PAGE)))]
PAGE_HEADERS_ANSWER = [[n.lower(), v] for n, v in PAGE_HEADERS]
FLOOD = b"0123456789" * 1000            # 10000 bytes of text
BINARY = b"\xff\xfe\x00abc"


def expect_body(raw, truncated=False):
    """What the spec says `body` is for these bytes: text when they are
    valid UTF-8, else padded base64 (the shape of POST /tcp `received`)."""
    try:
        return {"bytes": len(raw), "encoding": "text", "data": raw.decode("utf-8"),
                "truncated": truncated}
    except UnicodeDecodeError:
        return {"bytes": len(raw), "encoding": "base64",
                "data": base64.b64encode(raw).decode("ascii"), "truncated": truncated}


def _hostport(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


# ---- HTTP servers of ours ----

Request = collections.namedtuple("Request", "method path headers body client")


def header(req, name):
    """The first value of header name in a recorded Request, or None."""
    for n, v in req.headers:
        if n.lower() == name.lower():
            return v
    return None


def page(req):
    return 200, PAGE_HEADERS, PAGE


def text(status, body, ctype="text/plain"):
    def route(req):
        return status, [("Content-Type", ctype)], body
    return route


def redirect(status, location):
    def route(req):
        return status, [("Location", location), ("Content-Type", "text/plain")], b"moved\n"
    return route


def echo(req):
    """Answers with what it received, as JSON."""
    doc = {"method": req.method, "path": req.path, "headers": [list(h) for h in req.headers],
           "body_base64": base64.b64encode(req.body).decode("ascii")}
    return 200, [("Content-Type", "application/json")], json.dumps(doc).encode()


def slow(seconds):
    def route(req):
        time.sleep(seconds)
        return page(req)
    return route


def chunked(req):
    return (200, [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")],
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = scaled(10)
    # The head and the body are two writes: without TCP_NODELAY the body
    # would wait for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _serve(self):
        site = self.server.site
        req = Request(self.command, self.path, list(self.headers.items()), self._read_body(),
                      self.client_address)
        with site.lock:
            site.requests.append(req)
        route = site.routes.get(urllib.parse.urlsplit(self.path).path)
        if route is None:
            status, headers, payload = 404, [("Content-Type", "text/plain")], b"not found\n"
        else:
            status, headers, payload = route(req)
        self.send_response_only(status)
        sized = False
        for name, value in headers:
            sized = sized or name.lower() in ("content-length", "transfer-encoding")
            self.send_header(name, value)
        if not sized:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site, host, port):
        self.site = site
        self.address_family = family(host)
        super().__init__((host, port), _Handler)

    def server_bind(self):
        # Not HTTPServer.server_bind: it asks getfqdn() about the address,
        # which may go to the machine's resolvers.
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        socketserver.TCPServer.server_bind(self)
        self.server_name = "localhost"
        self.server_port = self.server_address[1]

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread.
        ctx = self.site.ssl_ctx
        if ctx is None:
            return super().finish_request(request, client_address)
        request.settimeout(scaled(10))
        try:
            conn = ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self.site.lock:
                self.site.tls_errors.append(e)
            return None
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()
        return None

    def handle_error(self, request, client_address):
        pass


class Site:
    """An HTTP/1.1 server of ours (HTTPS with tls=make_tls_material()'s
    dict), on host (127.0.0.1 unless told) and, with also_v6, on ::1 with
    the same port; the port is picked by the kernel. routes maps a path
    (without the query) to route(Request) -> (status, [(name, value)],
    payload); the headers are sent exactly so (plus Content-Length when
    neither it nor Transfer-Encoding is given); other paths are 404. Every
    request is recorded in `requests` (method, path with the query, headers
    in order, body, the client's address and port). Connections are kept
    alive (HTTP/1.1). The TLS server offers ALPN http/1.1 only."""

    def __init__(self, routes=None, host=HOST, tls=None, also_v6=False):
        self.routes = dict(routes or {})
        self.host = host
        self.requests = []
        self.tls_errors = []
        self.lock = threading.Lock()
        self.ssl_ctx = None
        if tls is not None:
            self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_ctx.load_cert_chain(tls["cert"], tls["key"])
            self.ssl_ctx.set_alpn_protocols(["http/1.1"])
        self.servers = []
        for _ in range(50):
            first = _Server(self, host, 0)
            if not also_v6:
                self.servers = [first]
                break
            try:
                second = _Server(self, "::1", first.server_address[1])
            except OSError:
                first.server_close()
                continue
            self.servers = [first, second]
            break
        if not self.servers:
            raise AssertionError("no port free on both %s and ::1 after 50 tries" % host)
        self.port = self.servers[0].server_address[1]
        self.threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05},
                                         daemon=True) for s in self.servers]

    @property
    def scheme(self):
        return "https" if self.ssl_ctx else "http"

    def url(self, path="/", host=None):
        return "%s://%s%s" % (self.scheme, _hostport(host or self.host, self.port), path)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()
        for t in self.threads:
            t.join(scaled(5))

    def clear(self):
        with self.lock:
            del self.requests[:]
            del self.tls_errors[:]

    def paths(self):
        with self.lock:
            return [r.path for r in self.requests]

    def wait_requests(self, n, timeout=5):
        """Waits until n requests were recorded; returns them."""
        deadline = time.monotonic() + scaled(timeout)
        while len(self.requests) < n:
            if time.monotonic() > deadline:
                raise AssertionError("%d of %d requests within %ss: %r"
                                     % (len(self.requests), n, scaled(timeout), self.paths()))
            time.sleep(0.01)
        with self.lock:
            return list(self.requests)


def read_head(conn):
    """Bytes from conn up to the end of an HTTP request head (or EOF)."""
    got = b""
    while b"\r\n\r\n" not in got and len(got) < 65536:
        try:
            b = conn.recv(4096)
        except (ConnectionResetError, socket.timeout, OSError):
            break
        if not b:
            break
        got += b
    return got


def h_silent(conn):
    """Reads the request and never answers, until the client closes."""
    return read_until_eof(conn)


def h_close_after_request(conn):
    """Reads the request head, then closes without a byte of answer."""
    return read_head(conn)


def h_accept_only(conn):
    """Closes at once (a peer that must never be reached: it counts)."""
    return b""


# ---- nginx for HTTP/2 over TLS ----

NGINX_CONF = """\
# Generated by tests/integration/test_fetch.py for one test class.
daemon off;
master_process off;
worker_processes 1;
pid %(prefix)s/nginx.pid;
error_log %(prefix)s/error.log warn;

events {
    worker_connections 64;
}

http {
    types { }
    default_type text/plain;
    access_log off;
    client_body_temp_path %(prefix)s/tmp/body;
    proxy_temp_path %(prefix)s/tmp/proxy;
%(temp_paths)s
    server {
        listen 127.0.0.1:%(port)d ssl http2;
        server_name localhost;
        ssl_certificate %(cert)s;
        ssl_certificate_key %(key)s;
        location = / { return 200 "hello over h2"; }
        location / { return 404; }
    }
}
"""


class Nginx:
    """nginx-light in the foreground (daemon off, one process), listening
    with TLS and HTTP/2 on 127.0.0.1 at a free port, its config, pid, logs
    and temp paths in a temp dir of ours. stop() ends it by its PID."""

    def __init__(self, tls):
        self.tls = tls
        self.dir = tempfile.TemporaryDirectory(prefix="netprobe-fetch-nginx-")
        self.prefix = self.dir.name
        self.port = free_port()
        self.proc = None
        self.log = os.path.join(self.prefix, "error.log")

    def start(self):
        os.makedirs(os.path.join(self.prefix, "tmp"))
        v = subprocess.run(["nginx", "-V"], capture_output=True, text=True, timeout=scaled(10))
        temp_paths = ""
        for m in ("fastcgi", "uwsgi", "scgi"):
            if "--without-http_%s_module" % m not in v.stderr + v.stdout:
                temp_paths += "    %s_temp_path %s/tmp/%s;\n" % (m, self.prefix, m)
        conf = os.path.join(self.prefix, "nginx.conf")
        with open(conf, "w", encoding="ascii") as f:
            f.write(NGINX_CONF % {"prefix": self.prefix, "port": self.port,
                                  "temp_paths": temp_paths, "cert": self.tls["cert"],
                                  "key": self.tls["key"]})
        args = ["nginx", "-e", self.log, "-p", self.prefix + "/", "-c", conf]
        r = subprocess.run(args + ["-q", "-t"], capture_output=True, text=True,
                           timeout=scaled(10))
        if r.returncode != 0:
            raise unittest.SkipTest("nginx rejects an HTTP/2 TLS config: %s"
                                    % (r.stderr.strip() or r.stdout.strip()))
        with open(os.path.join(self.prefix, "nginx.out"), "wb") as out:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + scaled(10)
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited with %s at start:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("nginx not listening on %d within %ss:\n%s"
                                     % (self.port, scaled(10), self.log_tail()))
            time.sleep(0.05)

    def log_tail(self):
        try:
            with open(self.log, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-20:])
        except OSError:
            return ""

    def url(self, path="/", host=HOST):
        return "https://%s%s" % (_hostport(host, self.port), path)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=scaled(5))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.dir.cleanup()


# ---- the fetch answer ----

class FetchCase(ServiceTestCase):
    """Helpers for GET and POST /fetch; `svc` is the class's service."""

    svc = None

    @classmethod
    def shared(cls, args=(), **kw):
        """A service for the class; at the end of the class it must still
        answer /healthz (then the harness sends SIGTERM and wants exit 0)."""
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

    @classmethod
    def class_site(cls, routes, **kw):
        site = Site(routes, **kw).start()
        cls.addClassCleanup(site.stop)
        return site

    def site(self, routes, **kw):
        s = Site(routes, **kw).start()
        self.addCleanup(s.stop)
        return s

    def peer(self, handler, host=HOST):
        p = TcpPeer(handler, host).start()
        self.addCleanup(p.stop)
        return p

    def get_fetch(self, svc=None, headers=None, timeout=15, **params):
        """GET /fetch?params -> (status, Headers, doc)."""
        path = "/fetch?" + urllib.parse.urlencode(params)
        return (svc or self.svc).json("GET", path, headers=headers, timeout=timeout)

    def post_fetch(self, body, svc=None, headers=None, timeout=15):
        """POST /fetch with body (a dict is sent as JSON) -> (status, Headers, doc)."""
        hdrs = dict(JSON_HEADERS)
        hdrs.update(headers or {})
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (svc or self.svc).json("POST", "/fetch", headers=hdrs, body=data,
                                      timeout=timeout)

    def ok(self, answer):
        status, hdrs, doc = answer
        self.assertEqual(status, 200, doc)
        self.assertEqual(hdrs["Content-Type"], "application/json")
        return doc

    def fetch(self, svc=None, headers=None, timeout=15, **params):
        return self.ok(self.get_fetch(svc, headers, timeout, **params))

    def fetch_post(self, body, svc=None, headers=None, timeout=15):
        return self.ok(self.post_fetch(body, svc, headers, timeout))

    def assertMs(self, v, what):
        self.assertIsInstance(v, (int, float), what)
        self.assertNotIsInstance(v, bool, what)
        self.assertGreaterEqual(v, 0, what)
        # Milliseconds with microsecond precision: at most 3 decimals.
        self.assertAlmostEqual(v * 1000, round(v * 1000), delta=1e-3,
                               msg="%s = %r has more than 3 decimals" % (what, v))

    def assertTiming(self, t, want=None):
        """Timing keys known, in order, as ms; exactly want when given."""
        self.assertIsInstance(t, dict)
        self.assertLessEqual(set(t), set(TIMING_ORDER), t)
        self.assertLessEqual({"resolve_ms", "total_ms"}, set(t), t)
        if want is not None:
            self.assertEqual(set(t), set(want), t)
        for k, v in t.items():
            self.assertMs(v, "timing." + k)
        order = [t[k] for k in TIMING_ORDER if k in t]
        self.assertEqual(order, sorted(order), "timing out of order: %r" % t)

    def assertHeadersShape(self, headers):
        self.assertIsInstance(headers, list)
        for h in headers:
            self.assertIsInstance(h, list, headers)
            self.assertEqual(len(h), 2, headers)
            self.assertIsInstance(h[0], str, headers)
            self.assertIsInstance(h[1], str, headers)
            self.assertTrue(h[0], headers)
            self.assertEqual(h[0], h[0].lower(), "header name not lower-cased: %r" % h)

    def assertBodyShape(self, b):
        self.assertEqual(set(b), BODY_KEYS, b)
        self.assertIsInstance(b["bytes"], int)
        self.assertNotIsInstance(b["bytes"], bool)
        self.assertIsInstance(b["truncated"], bool)
        self.assertIn(b["encoding"], ("text", "base64"), b)
        if b["encoding"] == "text":
            self.assertEqual(len(b["data"].encode("utf-8")), b["bytes"], b)
        else:
            raw = base64.b64decode(b["data"], validate=True)
            self.assertEqual(len(raw), b["bytes"], b)
            self.assertRaises(UnicodeDecodeError, raw.decode, "utf-8")

    def assertTlsShape(self, t, verified=True):
        keys = set(TLS_KEYS) if verified else TLS_KEYS | {"verify_error"}
        self.assertEqual(set(t), keys, t)
        self.assertIs(t["verified"], verified, t)
        self.assertIsInstance(t["version"], str)
        self.assertTrue(t["version"].startswith("TLSv1."), t)
        self.assertIsInstance(t["cipher"], str)
        self.assertTrue(t["cipher"], t)
        if not verified:
            self.assertIsInstance(t["verify_error"], str)
            self.assertTrue(t["verify_error"], t)
        c = t["certificate"]
        self.assertEqual(set(c), CERT_KEYS, c)
        for k in ("subject", "issuer", "not_before", "not_after"):
            self.assertIsInstance(c[k], str, c)
            self.assertTrue(c[k], c)
        self.assertIsInstance(c["days_left"], int)
        self.assertNotIsInstance(c["days_left"], bool)
        self.assertIsInstance(c["san"], list)
        for s in c["san"]:
            self.assertIsInstance(s, str, c)

    def assertTestCertificate(self, c):
        """The certificate harness.make_tls_material() makes (2 days)."""
        self.assertIn("localhost", c["subject"], c)
        self.assertIn("netprobe test CA", c["issuer"], c)
        self.assertGreaterEqual(c["days_left"], 0, c)
        self.assertLessEqual(c["days_left"], 2, c)
        self.assertIn("DNS:localhost", c["san"], c)
        self.assertIn("IP Address:127.0.0.1", c["san"], c)

    def assertOk(self, doc, url, status_code=200, address=HOST, final_url=None, tls=False,
                 http_version="1.1", redirects=()):
        """A fetch that got an answer: the exact shape, and every value
        given (address / redirects None: not checked). Returns (headers,
        body, timing)."""
        keys = FETCH_KEYS | {"tls"} if tls else FETCH_KEYS
        self.assertEqual(set(doc), keys, doc)
        self.assertEqual(doc["status"], "ok", doc)
        self.assertEqual(doc["url"], url, doc)
        self.assertEqual(doc["final_url"], final_url or url, doc)
        self.assertIsInstance(doc["address"], str, doc)
        if address is not None:
            self.assertEqual(doc["address"], address, doc)
        self.assertIsInstance(doc["status_code"], int, doc)
        self.assertNotIsInstance(doc["status_code"], bool, doc)
        self.assertEqual(doc["status_code"], status_code, doc)
        if http_version is not None:
            self.assertEqual(doc["http_version"], http_version, doc)
        self.assertHeadersShape(doc["headers"])
        self.assertBodyShape(doc["body"])
        self.assertIsInstance(doc["redirects"], list, doc)
        for r in doc["redirects"]:
            self.assertEqual(set(r), REDIRECT_KEYS, r)
            self.assertIsInstance(r["url"], str)
            self.assertIsInstance(r["location"], str)
            self.assertIn(r["status_code"], (301, 302, 303, 307, 308), r)
        if redirects is not None:
            self.assertEqual(doc["redirects"], list(redirects), doc)
        want = {"resolve_ms", "connect_ms", "ttfb_ms", "total_ms"}
        if tls:
            want.add("tls_ms")
            self.assertTlsShape(doc["tls"], verified=doc["tls"].get("verified") is not False)
        self.assertTiming(doc["timing"], want)
        self.assertGreater(doc["timing"]["total_ms"], 0)
        return doc["headers"], doc["body"], doc["timing"]

    def assertFailed(self, doc, url, code, address=HOST, tls=False):
        """A fetch ended by a finding: status error with code and message,
        no status_code (no answer), no ttfb; address (a string) when given
        there, absent or null when None; a subset of the answer's fields.
        Returns the timing."""
        self.assertEqual(doc.get("status"), "error", doc)
        self.assertEqual(set(doc["error"]), {"code", "message"}, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertIsInstance(doc["error"]["message"], str)
        self.assertTrue(doc["error"]["message"], doc)
        keys = FETCH_KEYS | {"error", "tls"} if tls else FETCH_KEYS | {"error"}
        self.assertLessEqual(set(doc), keys, doc)
        self.assertLessEqual({"url", "status", "error", "timing"}, set(doc), doc)
        self.assertEqual(doc["url"], url, doc)
        self.assertNotIn("status_code", doc)
        if address is None:
            self.assertIsNone(doc.get("address"), doc)
        elif "address" in doc:
            self.assertEqual(doc["address"], address, doc)
        self.assertTiming(doc["timing"])
        self.assertNotIn("ttfb_ms", doc["timing"])
        if not tls:
            self.assertNotIn("tls_ms", doc["timing"])
        return doc["timing"]


# ---- plain HTTP against a recording server ----

class FetchTests(FetchCase):

    @classmethod
    def setUpClass(cls):
        cls.svc = cls.shared()
        cls.web = cls.class_site({
            "/": page,
            "/echo": echo,
            "/binary": text(200, BINARY, "application/octet-stream"),
            "/escapes": text(200, b'a\x00b\xc3\xa9 "q" \\ \t\r\n\x7f'),
            "/big": text(200, FLOOD),
            "/e-acute": text(200, "\u00e9".encode() * 10),
            "/empty": text(200, b""),
            "/chunked": chunked,
            "/created": text(201, b"stored\n"),
        })

    def setUp(self):
        super().setUp()
        self.web.clear()

    def url(self, path="/"):
        return self.web.url(path)

    def test_get_page(self):
        url = self.url("/")
        t0 = time.monotonic()
        doc = self.fetch(url=url)
        elapsed = time.monotonic() - t0
        headers, body, t = self.assertOk(doc, url)
        self.assertEqual(headers, PAGE_HEADERS_ANSWER)
        self.assertIn(["content-type", "text/html; charset=utf-8"], headers)
        self.assertEqual(body, expect_body(PAGE))
        self.assertEqual(body["data"], PAGE.decode())
        self.assertEqual(doc["redirects"], [])
        self.assertNotIn("tls", doc)
        self.assertNotIn("tls_ms", t)
        # An address literal is not resolved.
        self.assertEqual(t["resolve_ms"], 0)
        self.assertLessEqual(t["resolve_ms"], t["connect_ms"])
        self.assertLessEqual(t["connect_ms"], t["ttfb_ms"])
        self.assertLessEqual(t["ttfb_ms"], t["total_ms"])
        self.assertLess(t["total_ms"], 1000 * SCALE)
        self.assertLess(elapsed, scaled(2))
        reqs = self.web.wait_requests(1)
        self.assertEqual([(r.method, r.path, r.body) for r in reqs], [("GET", "/", b"")])
        self.assertEqual(header(reqs[0], "Host"), "127.0.0.1:%d" % self.web.port)

    def test_each_fetch_connects_anew(self):
        # This server keeps connections alive; each fetch is still a probe
        # of its own, with its own connect (timing.connect_ms).
        url = self.url("/")
        for _ in range(3):
            doc = self.fetch(url=url)
            _, _, t = self.assertOk(doc, url)
            self.assertIn("connect_ms", t)
        clients = [r.client for r in self.web.wait_requests(3)]
        self.assertEqual(len(set(clients)), 3, "connections reused: %r" % clients)

    def test_post_form_gives_the_same_answer(self):
        url = self.url("/")
        got = self.fetch(url=url)
        doc = self.fetch_post({"url": url})
        self.assertOk(doc, url)
        strip = ("timing",)
        self.assertEqual({k: v for k, v in doc.items() if k not in strip},
                         {k: v for k, v in got.items() if k not in strip})
        self.assertEqual(self.web.paths(), ["/", "/"])

    def test_head(self):
        url = self.url("/")
        doc = self.fetch(url=url, method="HEAD", timeout_ms=ms(3))
        headers, body, t = self.assertOk(doc, url)
        # The same header fields as GET (Content-Length of the page), no body.
        self.assertEqual(headers, PAGE_HEADERS_ANSWER)
        self.assertEqual(body, EMPTY_BODY)
        # Not a wait for the announced body: HEAD has none.
        self.assertLess(t["total_ms"], 1000 * SCALE)
        reqs = self.web.wait_requests(1)
        self.assertEqual(reqs[0].method, "HEAD")
        self.assertEqual(reqs[0].body, b"")

    def test_post_json_body_and_custom_headers(self):
        url = self.url("/echo")
        payload = json.dumps({"hello": "world", "n": 1, "caf\u00e9": [True, None]})
        doc = self.fetch_post({"url": url, "method": "POST",
                               "headers": {"Content-Type": "application/json",
                                           "X-Custom": "custom value",
                                           "X-Second": "a=1; b=\"two\""},
                               "body": payload})
        headers, body, _ = self.assertOk(doc, url)
        self.assertEqual(headers[0], ["content-type", "application/json"])
        self.assertEqual(body["encoding"], "text")
        self.assertFalse(body["truncated"])
        reqs = self.web.wait_requests(1)
        r = reqs[0]
        self.assertEqual(r.method, "POST")
        self.assertEqual(r.path, "/echo")
        self.assertEqual(r.body, payload.encode("utf-8"))
        self.assertEqual(header(r, "Content-Type"), "application/json")
        self.assertEqual(header(r, "X-Custom"), "custom value")
        self.assertEqual(header(r, "X-Second"), "a=1; b=\"two\"")
        self.assertEqual(header(r, "Content-Length"), str(len(payload.encode("utf-8"))))
        # What came back is what the server received.
        echoed = json.loads(body["data"])
        self.assertEqual(echoed["method"], "POST")
        self.assertEqual(base64.b64decode(echoed["body_base64"]), payload.encode("utf-8"))
        self.assertEqual([tuple(h) for h in echoed["headers"]], r.headers)

    def test_body_base64_upload(self):
        raw = bytes(range(256)) + b"\x00\xff"
        url = self.url("/created")
        doc = self.fetch_post({"url": url, "method": "PUT",
                               "headers": {"Content-Type": "application/octet-stream"},
                               "body_base64": base64.b64encode(raw).decode()})
        _, body, _ = self.assertOk(doc, url, status_code=201)
        self.assertEqual(body, expect_body(b"stored\n"))
        r = self.web.wait_requests(1)[0]
        self.assertEqual((r.method, r.path), ("PUT", "/created"))
        self.assertEqual(r.body, raw)
        self.assertEqual(header(r, "Content-Type"), "application/octet-stream")

    def test_every_method_reaches_the_server(self):
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            with self.subTest(method=method):
                self.web.clear()
                url = self.url("/echo")
                doc = self.fetch_post({"url": url, "method": method, "body": "b\u00e9"}
                                      if method in ("POST", "PUT", "PATCH")
                                      else {"url": url, "method": method})
                _, body, _ = self.assertOk(doc, url)
                r = self.web.wait_requests(1)[0]
                self.assertEqual(r.method, method)
                self.assertEqual(json.loads(body["data"])["method"], method)
                if method in ("POST", "PUT", "PATCH"):
                    self.assertEqual(r.body, "b\u00e9".encode("utf-8"))
        # GET takes method too.
        self.web.clear()
        doc = self.fetch(url=self.url("/echo"), method="DELETE")
        self.assertOk(doc, self.url("/echo"))
        self.assertEqual(self.web.wait_requests(1)[0].method, "DELETE")

    def test_host_and_user_agent_may_be_set(self):
        url = self.url("/echo")
        doc = self.fetch_post({"url": url, "headers": {"Host": "example.test",
                                                       "User-Agent": "np-test/1.0"}})
        self.assertOk(doc, url)
        r = self.web.wait_requests(1)[0]
        self.assertEqual([v for n, v in r.headers if n.lower() == "host"], ["example.test"])
        self.assertEqual([v for n, v in r.headers if n.lower() == "user-agent"],
                         ["np-test/1.0"])

    def test_url_query_reaches_the_server(self):
        url = self.url("/echo?a=1&b=two%20words")
        doc = self.fetch(url=url)
        self.assertOk(doc, url)
        self.assertEqual(self.web.wait_requests(1)[0].path, "/echo?a=1&b=two%20words")

    def test_binary_answer_is_base64(self):
        url = self.url("/binary")
        doc = self.fetch(url=url)
        headers, body, _ = self.assertOk(doc, url)
        self.assertEqual(body, {"bytes": 6, "encoding": "base64", "data": "//4AYWJj",
                                "truncated": False})
        self.assertEqual(headers[0], ["content-type", "application/octet-stream"])

    def test_text_answer_with_nul_and_escapes(self):
        url = self.url("/escapes")
        doc = self.fetch(url=url)
        _, body, _ = self.assertOk(doc, url)
        self.assertEqual(body, {"bytes": 16, "encoding": "text",
                                "data": 'a\u0000b\u00e9 "q" \\ \t\r\n\x7f', "truncated": False})

    def test_empty_answer(self):
        url = self.url("/empty")
        doc = self.fetch(url=url)
        headers, body, _ = self.assertOk(doc, url)
        self.assertEqual(body, EMPTY_BODY)
        self.assertIn(["content-length", "0"], headers)
        # Nothing to cut: not truncated even with max_body_bytes 0.
        doc = self.fetch(url=url, max_body_bytes=0)
        _, body, _ = self.assertOk(doc, url)
        self.assertEqual(body, EMPTY_BODY)

    def test_chunked_answer_is_decoded(self):
        url = self.url("/chunked")
        doc = self.fetch(url=url)
        headers, body, _ = self.assertOk(doc, url)
        self.assertEqual(body, expect_body(b"hello world"))
        self.assertEqual(headers, [["content-type", "text/plain"],
                                   ["transfer-encoding", "chunked"]])

    def test_max_body_bytes(self):
        url = self.url("/big")
        doc = self.fetch(url=url, max_body_bytes=100, timeout_ms=ms(5))
        headers, body, t = self.assertOk(doc, url)
        self.assertEqual(body, expect_body(FLOOD[:100], truncated=True))
        self.assertEqual(doc["status"], "ok")
        self.assertIn(["content-length", "10000"], headers)
        self.assertLess(t["total_ms"], 1000 * SCALE)
        for n, want in ((0, {"bytes": 0, "encoding": "text", "data": "", "truncated": True}),
                        (9999, expect_body(FLOOD[:9999], truncated=True)),
                        (10000, expect_body(FLOOD)),
                        (MAX_BODY, expect_body(FLOOD))):
            with self.subTest(max_body_bytes=n):
                doc = self.fetch_post({"url": url, "max_body_bytes": n})
                _, body, _ = self.assertOk(doc, url)
                self.assertEqual(body, want)
        # The default (1 MiB) takes the whole page.
        doc = self.fetch(url=url)
        self.assertEqual(doc["body"], expect_body(FLOOD))

    def test_max_body_bytes_cutting_a_character_is_base64(self):
        url = self.url("/e-acute")
        doc = self.fetch(url=url, max_body_bytes=3)
        _, body, _ = self.assertOk(doc, url)
        self.assertEqual(body, {"bytes": 3, "encoding": "base64", "data": "w6nD",
                                "truncated": True})

    def test_http_error_status_is_still_ok(self):
        url = self.url("/missing")
        doc = self.fetch(url=url)
        headers, body, _ = self.assertOk(doc, url, status_code=404)
        self.assertEqual(body, expect_body(b"not found\n"))
        self.assertEqual(headers, [["content-type", "text/plain"], ["content-length", "10"]])

    def test_http2_over_cleartext_falls_back_to_1_1(self):
        # No prior knowledge: this server speaks HTTP/1.1 only and would
        # not understand an HTTP/2 preface.
        url = self.url("/")
        doc = self.fetch(url=url, http_version="2")
        _, body, _ = self.assertOk(doc, url, http_version="1.1")
        self.assertEqual(body, expect_body(PAGE))
        doc = self.fetch(url=url, http_version="1.1")
        self.assertOk(doc, url, http_version="1.1")

    def test_refused(self):
        port = refused_tcp_port(self)
        url = "http://127.0.0.1:%d/" % port
        doc = self.fetch(url=url, timeout_ms=ms(3))
        t = self.assertFailed(doc, url, "connect_refused")
        self.assertEqual(t["resolve_ms"], 0)
        self.assertLess(t["total_ms"], 1000 * SCALE)

    def test_silent_server_times_out(self):
        peer = self.peer(h_silent)
        url = "http://127.0.0.1:%d/never" % peer.port
        t0 = time.monotonic()
        doc = self.fetch(url=url, timeout_ms=300)
        elapsed = time.monotonic() - t0
        t = self.assertFailed(doc, url, "timeout")
        self.assertIn("connect_ms", t)
        self.assertGreaterEqual(t["total_ms"], 290)
        self.assertLess(t["total_ms"], 300 + 1000 * SCALE)
        self.assertGreaterEqual(elapsed, 0.29)
        self.assertLess(elapsed, 0.3 + scaled(1.5))
        got = peer.wait_results(1)[0]
        self.assertTrue(got.startswith(b"GET /never HTTP/1.1\r\n"), got)

    def test_server_closing_without_an_answer(self):
        peer = self.peer(h_close_after_request)
        url = "http://127.0.0.1:%d/bye" % peer.port
        doc = self.fetch(url=url, timeout_ms=ms(3))
        t = self.assertFailed(doc, url, "protocol_error")
        self.assertIn("connect_ms", t)
        self.assertLess(t["total_ms"], 1000 * SCALE)
        got = peer.wait_results(1)[0]
        self.assertTrue(got.startswith(b"GET /bye HTTP/1.1\r\n"), got)

    def test_localhost(self):
        # localhost is in /etc/hosts; the test DNS port never answers, so
        # it is not asked. The page listens on 127.0.0.1 and ::1 alike.
        site = self.site({"/": page}, also_v6=V6)
        url = "http://localhost:%d/" % site.port
        doc = self.fetch(url=url)
        self.assertIn(doc.get("address"), ("127.0.0.1", "::1"), doc)
        _, body, t = self.assertOk(doc, url, address=None)
        self.assertEqual(body, expect_body(PAGE))
        self.assertGreaterEqual(t["resolve_ms"], 0)
        r = site.wait_requests(1)[0]
        self.assertEqual(header(r, "Host"), "localhost:%d" % site.port)

    @unittest.skipUnless(V6, "no IPv6 loopback")
    def test_ipv6_literal(self):
        site = self.site({"/": page}, host="::1")
        url = "http://[::1]:%d/" % site.port
        doc = self.fetch(url=url)
        _, body, t = self.assertOk(doc, url, address="::1")
        self.assertEqual(body, expect_body(PAGE))
        self.assertEqual(t["resolve_ms"], 0)

    def test_url_of_4096_characters_is_fetched(self):
        base = self.url("/echo?pad=")
        url = base + "x" * (4096 - len(base))
        self.assertEqual(len(url), 4096)
        doc = self.fetch_post({"url": url})
        self.assertOk(doc, url)
        self.assertEqual(self.web.wait_requests(1)[0].path, url[len(self.url("")):])


# ---- redirects ----

class RedirectTests(FetchCase):

    @classmethod
    def setUpClass(cls):
        cls.svc = cls.shared()
        cls.web = cls.class_site({"/": page})
        u = cls.web.url
        cls.web.routes.update({
            "/r1": redirect(301, u("/r2")),
            "/r2": redirect(302, u("/final")),
            "/final": text(200, b"final page\n"),
            "/rel": redirect(302, "/final"),
            "/loop": redirect(307, u("/loop")),
            "/meta": redirect(302, "http://169.254.169.254/latest/meta-data/"),
            "/file": redirect(302, "file:///etc/passwd"),
        })

    def setUp(self):
        super().setUp()
        self.web.clear()

    def entry(self, path, status_code, location_path):
        return {"url": self.web.url(path), "status_code": status_code,
                "location": self.web.url(location_path)}

    def test_follow_0_answers_the_redirect(self):
        url = self.web.url("/r1")
        for doc in (self.fetch(url=url), self.fetch(url=url, follow=0)):
            headers, body, _ = self.assertOk(doc, url, status_code=301)
            self.assertEqual(headers[0], ["location", self.web.url("/r2")])
            self.assertEqual(body, expect_body(b"moved\n"))
        self.assertEqual(self.web.paths(), ["/r1", "/r1"])

    def test_follow_2_through_a_2_hop_chain(self):
        url = self.web.url("/r1")
        doc = self.fetch(url=url, follow=2)
        headers, body, _ = self.assertOk(
            doc, url, final_url=self.web.url("/final"),
            redirects=[self.entry("/r1", 301, "/r2"), self.entry("/r2", 302, "/final")])
        self.assertEqual(body, expect_body(b"final page\n"))
        # The headers of the last response.
        self.assertEqual(headers, [["content-type", "text/plain"], ["content-length", "11"]])
        self.assertEqual(self.web.paths(), ["/r1", "/r2", "/final"])
        # More follow than needed: the same.
        doc = self.fetch_post({"url": url, "follow": 10})
        self.assertOk(doc, url, final_url=self.web.url("/final"),
                      redirects=[self.entry("/r1", 301, "/r2"),
                                 self.entry("/r2", 302, "/final")])

    def test_follow_1_on_a_2_hop_chain_answers_the_second_redirect(self):
        url = self.web.url("/r1")
        doc = self.fetch(url=url, follow=1)
        headers, body, _ = self.assertOk(doc, url, status_code=302,
                                         final_url=self.web.url("/r2"),
                                         redirects=[self.entry("/r1", 301, "/r2")])
        self.assertIn(["location", self.web.url("/final")], headers)
        self.assertEqual(body, expect_body(b"moved\n"))
        self.assertEqual(self.web.paths(), ["/r1", "/r2"])

    def test_redirect_loop_stops_at_follow(self):
        url = self.web.url("/loop")
        for follow in (3, 10):
            with self.subTest(follow=follow):
                self.web.clear()
                doc = self.fetch(url=url, follow=follow)
                self.assertOk(doc, url, status_code=307,
                              redirects=[self.entry("/loop", 307, "/loop")] * follow)
                self.assertEqual(self.web.paths(), ["/loop"] * (follow + 1))

    def test_relative_location(self):
        url = self.web.url("/rel")
        doc = self.fetch(url=url, follow=1)
        _, body, _ = self.assertOk(doc, url, final_url=self.web.url("/final"), redirects=None)
        self.assertEqual(body, expect_body(b"final page\n"))
        self.assertEqual(len(doc["redirects"]), 1, doc)
        r = doc["redirects"][0]
        self.assertEqual((r["url"], r["status_code"]), (url, 302))
        # The Location as sent, or resolved against the URL.
        self.assertIn(r["location"], ("/final", self.web.url("/final")), r)
        self.assertEqual(self.web.paths(), ["/rel", "/final"])

    def test_redirect_to_the_metadata_address_is_denied(self):
        url = self.web.url("/meta")
        # Not followed: the 302 is simply the answer.
        doc = self.fetch(url=url)
        headers, _, _ = self.assertOk(doc, url, status_code=302)
        self.assertIn(["location", "http://169.254.169.254/latest/meta-data/"], headers)
        # Followed: a finding, decided before any connect (a connect there
        # would take until the timeout).
        t0 = time.monotonic()
        doc = self.fetch(url=url, follow=1, timeout_ms=ms(3))
        elapsed = time.monotonic() - t0
        self.assertEqual(doc["status"], "error", doc)
        self.assertEqual(set(doc["error"]), {"code", "message"}, doc)
        self.assertEqual(doc["error"]["code"], "denied_by_policy", doc)
        self.assertTrue(doc["error"]["message"])
        self.assertEqual(doc["url"], url)
        self.assertLessEqual(set(doc), FETCH_KEYS | {"error"}, doc)
        self.assertTiming(doc["timing"])
        self.assertLess(doc["timing"]["total_ms"], 1000 * SCALE)
        self.assertLess(elapsed, scaled(2))
        self.assertEqual(self.web.paths(), ["/meta", "/meta"])
        # Same from POST.
        doc = self.fetch_post({"url": url, "follow": 2, "timeout_ms": ms(3)})
        self.assertEqual((doc["status"], doc["error"]["code"]), ("error", "denied_by_policy"))

    def test_redirects_to_other_schemes_are_not_fetched(self):
        # Only http and https are ever fetched: an ftp:// Location pointing
        # at a server of ours gets no connection, a file:// one no file.
        peer = self.peer(h_accept_only)
        self.web.routes["/ftp"] = redirect(302, "ftp://127.0.0.1:%d/x" % peer.port)
        for path in ("/ftp", "/file"):
            with self.subTest(path=path):
                url = self.web.url(path)
                doc = self.fetch(url=url, follow=1, timeout_ms=ms(2))
                self.assertEqual(doc["url"], url)
                self.assertIn(doc["status"], ("ok", "error"), doc)
                if doc["status"] == "ok":
                    self.assertEqual(doc["status_code"], 302, doc)
                    self.assertEqual(doc["final_url"], url, doc)
                    self.assertEqual(doc["redirects"], [], doc)
                if "body" in doc and doc["body"]["encoding"] == "text":
                    self.assertNotIn("root:", doc["body"]["data"])
        time.sleep(0.2)
        self.assertEqual(peer.accepted, 0)


# ---- HTTPS ----

class TlsTests(FetchCase):
    """cls.svc trusts the test CA (--fetch-ca-file); cls.plain does not."""

    @classmethod
    def setUpClass(cls):
        cls._dir = tempfile.TemporaryDirectory(prefix="netprobe-fetch-tls-")
        cls.addClassCleanup(cls._dir.cleanup)
        cls.tls = harness.make_tls_material(cls._dir.name)
        cls.svc = cls.shared(["--fetch-ca-file", cls.tls["ca_cert"]])
        cls.plain = cls.shared()
        cls.web = cls.class_site({"/": page, "/echo": echo}, tls=cls.tls, also_v6=V6)
        cls.http = cls.class_site({"/to-tls": redirect(302, cls.web.url("/"))})

    def setUp(self):
        super().setUp()
        self.web.clear()

    def test_verified(self):
        url = self.web.url("/")
        doc = self.fetch(url=url)
        headers, body, t = self.assertOk(doc, url, tls=True)
        self.assertEqual(headers, PAGE_HEADERS_ANSWER)
        self.assertEqual(body, expect_body(PAGE))
        tls = doc["tls"]
        self.assertIs(tls["verified"], True)
        self.assertNotIn("verify_error", tls)
        self.assertTrue(tls["version"].startswith("TLSv1."), tls)
        self.assertTrue(tls["cipher"], tls)
        self.assertTestCertificate(tls["certificate"])
        self.assertIn("tls_ms", t)
        self.assertEqual(t["resolve_ms"], 0)
        self.assertLessEqual(t["connect_ms"], t["tls_ms"])
        self.assertLessEqual(t["tls_ms"], t["ttfb_ms"])
        self.assertLessEqual(t["ttfb_ms"], t["total_ms"])
        self.assertEqual(self.web.wait_requests(1)[0].path, "/")
        self.assertEqual(self.web.tls_errors, [])

    def test_each_fetch_has_its_own_handshake(self):
        # Kept-alive connections are not reused: every answer has the TLS
        # handshake's time and the whole certificate.
        url = self.web.url("/")
        for _ in range(3):
            doc = self.fetch(url=url)
            _, _, t = self.assertOk(doc, url, tls=True)
            self.assertIn("tls_ms", t)
            self.assertIs(doc["tls"]["verified"], True)
            self.assertTestCertificate(doc["tls"]["certificate"])
        clients = [r.client for r in self.web.wait_requests(3)]
        self.assertEqual(len(set(clients)), 3, "connections reused: %r" % clients)

    def test_verified_by_name(self):
        url = self.web.url("/", host="localhost")
        doc = self.fetch(url=url)
        self.assertIn(doc.get("address"), ("127.0.0.1", "::1"), doc)
        _, body, _ = self.assertOk(doc, url, address=None, tls=True)
        self.assertIs(doc["tls"]["verified"], True)
        self.assertEqual(body, expect_body(PAGE))
        self.assertEqual(header(self.web.wait_requests(1)[0], "Host"),
                         "localhost:%d" % self.web.port)

    def test_post_over_tls(self):
        url = self.web.url("/echo")
        doc = self.fetch_post({"url": url, "method": "POST", "body": "secret body",
                               "headers": {"X-Over-Tls": "yes"}})
        self.assertOk(doc, url, tls=True)
        r = self.web.wait_requests(1)[0]
        self.assertEqual((r.method, r.body, header(r, "X-Over-Tls")),
                         ("POST", b"secret body", "yes"))

    def test_without_the_ca_is_tls_error(self):
        url = self.web.url("/")
        doc = self.fetch(svc=self.plain, url=url, timeout_ms=ms(3))
        self.assertFailed(doc, url, "tls_error", tls=True)
        self.assertLess(doc["timing"]["total_ms"], 1000 * SCALE)
        # Nothing was asked over the unverified connection.
        time.sleep(0.1)
        self.assertEqual(self.web.paths(), [])

    def test_insecure(self):
        url = self.web.url("/")
        for answer in (self.get_fetch(svc=self.plain, url=url, insecure="true"),
                       self.get_fetch(svc=self.plain, url=url, insecure="1"),
                       self.post_fetch({"url": url, "insecure": True}, svc=self.plain)):
            doc = self.ok(answer)
            _, body, _ = self.assertOk(doc, url, tls=True)
            self.assertEqual(body, expect_body(PAGE))
            tls = doc["tls"]
            self.assertIs(tls["verified"], False, tls)
            self.assertIsInstance(tls.get("verify_error"), str, tls)
            # The test CA is not known to this service.
            self.assertIn("issuer", tls["verify_error"], tls)
            self.assertTestCertificate(tls["certificate"])
        # insecure false is the default: a finding.
        doc = self.fetch_post({"url": url, "insecure": False}, svc=self.plain)
        self.assertFailed(doc, url, "tls_error", tls=True)

    def test_name_not_in_the_certificate_is_tls_error(self):
        # The certificate is for localhost, 127.0.0.1 and ::1, not 127.0.0.2.
        site = self.site({"/": page}, host="127.0.0.2", tls=self.tls)
        url = site.url("/")
        doc = self.fetch(url=url, timeout_ms=ms(3))
        self.assertFailed(doc, url, "tls_error", address="127.0.0.2", tls=True)
        time.sleep(0.1)
        self.assertEqual(site.paths(), [])

    def test_plain_http_to_a_tls_port(self):
        # Not a certificate problem: the service must still answer, with a
        # finding (the server's TLS alert or close is no HTTP answer).
        url = "http://127.0.0.1:%d/" % self.web.port
        doc = self.fetch(url=url, timeout_ms=ms(3))
        self.assertEqual(doc["status"], "error", doc)
        self.assertNotIn("tls", doc)

    def test_http2_asked_of_a_server_without_h2(self):
        url = self.web.url("/")
        doc = self.fetch(url=url, http_version="2")
        self.assertOk(doc, url, tls=True, http_version="1.1")

    def test_redirect_from_http_to_https(self):
        url = self.http.url("/to-tls")
        doc = self.fetch(url=url, follow=1)
        _, body, t = self.assertOk(doc, url, tls=True, final_url=self.web.url("/"),
                                   redirects=[{"url": url, "status_code": 302,
                                               "location": self.web.url("/")}])
        self.assertEqual(body, expect_body(PAGE))
        self.assertIs(doc["tls"]["verified"], True)
        self.assertIn("tls_ms", t)


class Http2Tests(FetchCase):
    """nginx with TLS and HTTP/2 (ALPN h2), certificate from the test CA."""

    @classmethod
    def setUpClass(cls):
        if shutil.which("nginx") is None:
            raise unittest.SkipTest("nginx not found: HTTP/2 needs a server that speaks it")
        cls._dir = tempfile.TemporaryDirectory(prefix="netprobe-fetch-h2-")
        cls.addClassCleanup(cls._dir.cleanup)
        cls.tls = harness.make_tls_material(cls._dir.name)
        cls.nginx = Nginx(cls.tls)
        cls.addClassCleanup(cls.nginx.stop)
        cls.nginx.start()
        cls.svc = cls.shared(["--fetch-ca-file", cls.tls["ca_cert"]])

    def test_http2(self):
        url = self.nginx.url("/")
        for doc in (self.fetch(url=url, http_version="2"),
                    self.fetch_post({"url": url, "http_version": "2"})):
            headers, body, _ = self.assertOk(doc, url, tls=True, http_version="2")
            self.assertEqual(body, expect_body(b"hello over h2"))
            self.assertIn(["content-type", "text/plain"], headers)
            self.assertIs(doc["tls"]["verified"], True)
            self.assertTestCertificate(doc["tls"]["certificate"])
        # A 404 over HTTP/2 too.
        url404 = self.nginx.url("/nothing")
        doc = self.fetch(url=url404, http_version="2")
        self.assertOk(doc, url404, status_code=404, tls=True, http_version="2")

    def test_http_1_1_asked(self):
        url = self.nginx.url("/")
        doc = self.fetch(url=url, http_version="1.1")
        _, body, _ = self.assertOk(doc, url, tls=True, http_version="1.1")
        self.assertEqual(body, expect_body(b"hello over h2"))


# ---- host names through DNS, and the policy for every address ----

class NameTests(FetchCase):
    """good.np.test is 127.0.0.10 (a page of ours listens there),
    bad.np.test 127.0.0.99 (denied below), nope.np.test has no address."""

    @classmethod
    def setUpClass(cls):
        cls.ns = dnsfixture.NsdServer().start()
        cls.addClassCleanup(cls.ns.stop)
        cls.svc = cls.shared(["--dns-server", cls.ns.address, "--deny-cidr", "127.0.0.99/32"])

    def test_name_resolved_by_dns(self):
        site = self.site({"/": page}, host="127.0.0.10")
        url = "http://good.np.test:%d/" % site.port
        doc = self.fetch(url=url)
        _, body, t = self.assertOk(doc, url, address="127.0.0.10")
        self.assertEqual(body, expect_body(PAGE))
        self.assertGreater(t["resolve_ms"], 0)
        self.assertLessEqual(t["resolve_ms"], t["connect_ms"])
        r = site.wait_requests(1)[0]
        self.assertEqual(header(r, "Host"), "good.np.test:%d" % site.port)

    def test_name_without_addresses_is_not_found(self):
        port = refused_tcp_port(self)
        url = "http://nope.np.test:%d/" % port
        for doc in (self.fetch(url=url, timeout_ms=ms(3)),
                    self.fetch_post({"url": url, "timeout_ms": ms(3)})):
            t = self.assertFailed(doc, url, "not_found", address=None)
            self.assertNotIn("connect_ms", t)

    def test_name_with_a_denied_address_is_403(self):
        port = refused_tcp_port(self)
        url = "http://bad.np.test:%d/" % port
        self.assertProblem(self.get_fetch(url=url), 403, "/fetch", param="url")
        self.assertProblem(self.post_fetch({"url": url}), 403, "/fetch", param="url")

    def test_denied_literal_is_403(self):
        port = refused_tcp_port(self)
        answer = self.get_fetch(url="http://127.0.0.99:%d/" % port)
        self.assertProblem(answer, 403, "/fetch", param="url")
        self.assertIn("127.0.0.99", answer[2]["detail"])

    def test_redirect_to_a_denied_address_sends_nothing(self):
        # A server of ours on the denied address counts the connections
        # that reach it: none, by name or by literal.
        denied = self.peer(h_accept_only, host="127.0.0.99")
        site = self.site({"/": page}, host="127.0.0.10")
        site.routes["/by-name"] = redirect(302, "http://bad.np.test:%d/" % denied.port)
        site.routes["/by-literal"] = redirect(302, "http://127.0.0.99:%d/" % denied.port)
        for path in ("/by-name", "/by-literal"):
            with self.subTest(path=path):
                url = "http://good.np.test:%d%s" % (site.port, path)
                doc = self.fetch(url=url, follow=1, timeout_ms=ms(3))
                self.assertEqual(doc["status"], "error", doc)
                self.assertEqual(doc["error"]["code"], "denied_by_policy", doc)
                self.assertEqual(doc["url"], url)
                self.assertLessEqual(set(doc), FETCH_KEYS | {"error"}, doc)
                # Not followed, the redirect is the answer.
                doc = self.fetch(url=url, timeout_ms=ms(3))
                self.assertOk(doc, url, status_code=302, address="127.0.0.10")
        time.sleep(0.2)
        self.assertEqual(denied.accepted, 0)


# ---- 400 and 403 ----

class ValidationTests(FetchCase):

    @classmethod
    def setUpClass(cls):
        cls.svc = cls.shared(["--max-timeout-ms", "1000", "--default-timeout-ms", "1000"])

    def setUp(self):
        super().setUp()
        # If a bad request were wrongly accepted, its traffic would go to
        # this port of ours, which refuses it.
        self.port = refused_tcp_port(self)
        self.target = "http://127.0.0.1:%d/" % self.port

    def bad_get(self, param, **params):
        answer = self.get_fetch(**params)
        self.assertProblem(answer, 400, "/fetch", param=param)
        return answer[2]

    def bad_post(self, param, body):
        answer = self.post_fetch(body)
        self.assertProblem(answer, 400, "/fetch", param=param)
        return answer[2]

    def both(self, param, **fields):
        """400 naming param from GET (values as strings) and POST (values as
        given), for the fields over a valid url (None: left out)."""
        base = {"url": self.target}
        base.update(fields)
        base = {k: v for k, v in base.items() if v is not None}
        with self.subTest(method="GET", params=base):
            self.bad_get(param, **{k: str(v) for k, v in base.items()})
        with self.subTest(method="POST", body=base):
            self.bad_post(param, base)

    def refused(self, doc):
        self.assertFailed(doc, doc["url"], "connect_refused")

    def test_url(self):
        p = self.port
        self.both("url", url=None)
        long_url = "http://127.0.0.1:%d/" % p
        long_url += "a" * (4097 - len(long_url))
        for url in ("", "ftp://127.0.0.1:%d/" % p, "file:///etc/passwd",
                    "gopher://127.0.0.1:%d/" % p, "127.0.0.1:%d/" % p, "//127.0.0.1:%d/" % p,
                    "/just/a/path", "http://", "https://", "http://:%d/" % p,
                    # Empty host: not the first path segment taken as one.
                    "http:///x", "http:///127.0.0.1:%d/" % p,
                    "http://user:pass@127.0.0.1:%d/" % p, "https://u:p@127.0.0.1:%d/" % p,
                    "http://127.0.0.1:99999/", "http://[::1/", "javascript:alert(1)",
                    long_url):
            self.both("url", url=url)
        for url in (123, True, ["http://127.0.0.1/"], {"a": 1}):
            with self.subTest(post_url=url):
                self.bad_post("url", {"url": url})

    def test_url_length_is_inclusive(self):
        url = "http://127.0.0.1:%d/" % self.port
        url += "a" * (4096 - len(url))
        self.refused(self.fetch(url=url))
        self.refused(self.fetch_post({"url": url}))
        self.both("url", url=url + "a")

    def test_method(self):
        for m in ("get", "Post", "head", "FOO", "CONNECT", "TRACE", "", "GET ", "G\u00c9T"):
            self.both("method", method=m)
        for m in (1, True, ["GET"]):
            with self.subTest(post_method=m):
                self.bad_post("method", {"url": self.target, "method": m})
        for m in METHODS:
            with self.subTest(method=m):
                self.refused(self.fetch(url=self.target, method=m))
                self.refused(self.fetch_post({"url": self.target, "method": m}))

    def test_follow(self):
        for n in (11, -1, 100, "x", 1.5):
            self.both("follow", follow=n)
        for n in ("2", True):
            with self.subTest(post_follow=n):
                self.bad_post("follow", {"url": self.target, "follow": n})
        for n in (0, 10):
            self.refused(self.fetch(url=self.target, follow=n))
            self.refused(self.fetch_post({"url": self.target, "follow": n}))

    def test_timeout_ms(self):
        for n in (0, -1, 1001, 5000, "x", 1.5):
            self.both("timeout_ms", timeout_ms=n)
        for n in ("100", True):
            with self.subTest(post_timeout_ms=n):
                self.bad_post("timeout_ms", {"url": self.target, "timeout_ms": n})
        self.refused(self.fetch(url=self.target, timeout_ms=1000))
        doc = self.fetch_post({"url": self.target, "timeout_ms": 1})
        self.assertEqual(doc["status"], "error", doc)
        self.assertIn(doc["error"]["code"], ("connect_refused", "timeout"), doc)

    def test_max_body_bytes(self):
        for n in (-1, MAX_BODY + 1, 1 << 40, "x", 1.5):
            self.both("max_body_bytes", max_body_bytes=n)
        for n in ("10", True):
            with self.subTest(post_max_body_bytes=n):
                self.bad_post("max_body_bytes", {"url": self.target, "max_body_bytes": n})
        for n in (0, MAX_BODY):
            self.refused(self.fetch(url=self.target, max_body_bytes=n))
            self.refused(self.fetch_post({"url": self.target, "max_body_bytes": n}))

    def test_http_version(self):
        for v in ("3", "1.0", "2.0", "", "h2", "HTTP/2", "1"):
            self.both("http_version", http_version=v)
        for v in (2, 1.1, True, ["2"]):
            with self.subTest(post_http_version=v):
                self.bad_post("http_version", {"url": self.target, "http_version": v})
        for v in ("1.1", "2"):
            self.refused(self.fetch(url=self.target, http_version=v))
            self.refused(self.fetch_post({"url": self.target, "http_version": v}))

    def test_insecure(self):
        for v in ("maybe", "2", "truee"):
            with self.subTest(get_insecure=v):
                self.bad_get("insecure", url=self.target, insecure=v)
        for v in ("true", 1, 0, ["x"]):
            with self.subTest(post_insecure=v):
                self.bad_post("insecure", {"url": self.target, "insecure": v})

    def test_headers(self):
        for name, value in (("Bad Name", "v"), ("X:Y", "v"), ("X-A\r\nX-B", "v"),
                            ("X-A\n", "v"), ("X(A)", "v"), ("X-A", "a\r\nInjected: 1"),
                            ("X-A", "a\nb"), ("X-A", "a\rb"), ("X-A", 1), ("X-A", True),
                            ("X-A", None), ("X-A", ["a"]), ("X-A", {"b": "c"})):
            with self.subTest(name=name, value=value):
                self.bad_post("headers." + name,
                              {"url": self.target, "headers": {"X-Ok": "fine", name: value}})
        for headers in ("X-A: b", ["X-A", "b"], 1, True):
            with self.subTest(headers=headers):
                self.bad_post("headers", {"url": self.target, "headers": headers})
        # Accepted: Host, an empty object.
        self.refused(self.fetch_post({"url": self.target,
                                      "headers": {"Host": "example.test", "X-Ok": "a\tb"}}))
        self.refused(self.fetch_post({"url": self.target, "headers": {}}))

    def test_body_fields(self):
        base = {"url": self.target, "method": "POST"}
        self.bad_post("body_base64", dict(base, body="x", body_base64="eA=="))
        for b64 in ("!!!!", "Zm9v*A==", "a", 12, ["eA=="]):
            with self.subTest(body_base64=b64):
                self.bad_post("body_base64", dict(base, body_base64=b64))
        for body in (12, ["a"], {"a": 1}, True):
            with self.subTest(body=body):
                self.bad_post("body", dict(base, body=body))
        self.refused(self.fetch_post(dict(base, body="")))
        self.refused(self.fetch_post(dict(base, body_base64="eA==")))

    def test_unknown_post_field(self):
        for field in ("foo", "URL", "header", "data", "Method"):
            with self.subTest(field=field):
                self.bad_post(field, {"url": self.target, field: 1})

    def test_body_not_a_json_object(self):
        for body in (b"", b"url=http://127.0.0.1/", b'{"url": "http://127.0.0.1/", ',
                     b'["http://127.0.0.1/"]', b'"http://127.0.0.1/"', b"7", b"null"):
            with self.subTest(body=body):
                self.bad_post("body", body)

    def test_metadata_address_is_403(self):
        # Denied by the default policy before any connect.
        for url in ("http://169.254.169.254/", "https://169.254.169.254/latest/meta-data/",
                    "http://169.254.169.254:8080/x"):
            with self.subTest(url=url):
                answer = self.get_fetch(url=url)
                self.assertProblem(answer, 403, "/fetch", param="url")
                self.assertIn("169.254.169.254", answer[2]["detail"])
                answer = self.post_fetch({"url": url})
                self.assertProblem(answer, 403, "/fetch", param="url")

    def test_public_only_policy_denies_loopback(self):
        svc = self.start_service(["--target-policy", "public-only"])
        self.assertProblem(self.get_fetch(svc=svc, url=self.target), 403, "/fetch",
                           param="url")
        self.assertProblem(self.post_fetch({"url": self.target}, svc=svc), 403, "/fetch",
                           param="url")

    def test_other_methods_are_405(self):
        for method in ("DELETE", "PUT"):
            with self.subTest(method=method):
                status, headers, _ = self.svc.request(method, "/fetch")
                self.assertEqual(status, 405)
                self.assertIn("GET", headers["Allow"])
                self.assertIn("POST", headers["Allow"])


# ---- --auth-token, --rate-limit, proxies ----

class AccessTests(FetchCase):

    def test_auth_token(self):
        svc = self.start_service(["--auth-token", "T"])
        web = self.site({"/": page})
        url = web.url("/")
        answer = self.get_fetch(svc=svc, url=url)
        self.assertProblem(answer, 401, "/fetch", param="Authorization",
                           detail="a valid bearer token is required for /fetch")
        self.assertEqual(answer[1]["WWW-Authenticate"], 'Bearer realm="netprobe"')
        self.assertEqual(self.get_fetch(svc=svc, url=url,
                                        headers={"Authorization": "Bearer U"})[0], 401)
        self.assertProblem(self.post_fetch({"url": url}, svc=svc), 401, "/fetch",
                           param="Authorization")
        self.assertEqual(web.paths(), [])
        doc = self.fetch(svc=svc, url=url, headers={"Authorization": "Bearer T"})
        self.assertOk(doc, url)
        doc = self.fetch_post({"url": url}, svc=svc, headers={"Authorization": "Bearer T"})
        _, body, _ = self.assertOk(doc, url)
        self.assertEqual(body, expect_body(PAGE))
        self.assertEqual(web.paths(), ["/", "/"])
        # The token is the service's, not sent to the page.
        for r in web.requests:
            self.assertIsNone(header(r, "Authorization"))

    def test_rate_limit(self):
        svc = self.start_service(["--rate-limit", "1", "--rate-burst", "2"])
        port = refused_tcp_port(self)
        url = "http://127.0.0.1:%d/" % port
        t0 = time.monotonic()
        answers = [self.get_fetch(svc=svc, url=url) for _ in range(3)]
        if time.monotonic() - t0 >= 1.0:
            self.skipTest("three refused fetches took a second: too slow to test the burst")
        self.assertEqual([a[0] for a in answers], [200, 200, 429], [a[2] for a in answers])
        self.assertEqual(answers[0][2]["error"]["code"], "connect_refused")
        self.assertProblem(answers[2], 429, "/fetch")
        self.assertIn("Retry-After", answers[2][1])

    def test_proxies_from_the_environment_are_not_used(self):
        proxy = self.peer(h_accept_only)
        proxy_url = "http://127.0.0.1:%d" % proxy.port
        env = {k: proxy_url for k in ("http_proxy", "HTTP_PROXY", "https_proxy",
                                      "HTTPS_PROXY", "all_proxy", "ALL_PROXY")}
        env.update({"no_proxy": "", "NO_PROXY": ""})
        svc = self.start_service(env=env)
        web = self.site({"/": page})
        url = web.url("/")
        doc = self.fetch(svc=svc, url=url, timeout_ms=ms(3))
        _, body, _ = self.assertOk(doc, url)
        self.assertEqual(body, expect_body(PAGE))
        self.assertEqual(web.paths(), ["/"])
        self.assertEqual(proxy.accepted, 0)


# ---- metrics ----

class MetricsTests(FetchCase):

    def test_probe_outcomes_counted(self):
        svc = self.start_service()
        web = self.site({"/": page})
        silent = self.peer(h_silent)
        refused = refused_tcp_port(self)
        for path in ("/", "/", "/missing"):
            doc = self.fetch(svc=svc, url=web.url(path))
            self.assertEqual(doc["status"], "ok", doc)
        doc = self.fetch(svc=svc, url="http://127.0.0.1:%d/" % refused)
        self.assertEqual(doc["error"]["code"], "connect_refused", doc)
        doc = self.fetch(svc=svc, url="http://127.0.0.1:%d/" % silent.port, timeout_ms=ms(0.2))
        self.assertEqual(doc["error"]["code"], "timeout", doc)
        # A 400 and a 403 are not probes.
        self.assertEqual(self.get_fetch(svc=svc, url="ftp://127.0.0.1/")[0], 400)
        self.assertEqual(self.get_fetch(svc=svc, url="http://169.254.169.254/")[0], 403)

        text = svc.get("/metrics")[2].decode()
        m = harness.parse_metrics(text)
        series = {dict(labels)["outcome"]: v for (name, labels), v in m.items()
                  if name == "netprobe_probes_total" and dict(labels).get("kind") == "fetch"}
        self.assertEqual(series, {"ok": 3.0, "connect_refused": 1.0, "timeout": 1.0}, text)
        self.assertEqual(m.get(("netprobe_probe_duration_seconds_count",
                                frozenset({("kind", "fetch")}))), 5.0, text)


# ---- slow fetches wait on the worker's loop, they do not block it ----

class ConcurrencyTests(FetchCase):

    def test_slow_fetches_do_not_block_the_worker(self):
        svc = self.start_service(workers=1)
        delay = scaled(1.5)
        web = self.site({"/": page, "/slow": slow(delay)})
        answers = [None] * 3

        def fetch_slow(i):
            answers[i] = self.get_fetch(svc=svc, url=web.url("/slow?i=%d" % i),
                                        timeout_ms=ms(5))

        threads = [threading.Thread(target=fetch_slow, args=(i,), daemon=True)
                   for i in range(3)]
        t_start = time.monotonic()
        for t in threads:
            t.start()
        web.wait_requests(3)
        t0 = time.monotonic()
        self.assertEqual(svc.get("/healthz")[0], 200)
        doc = self.fetch(svc=svc, url=web.url("/"))
        self.assertEqual(doc["body"], expect_body(PAGE))
        quick = time.monotonic() - t0
        still_waiting = [t.is_alive() for t in threads]
        for t in threads:
            t.join(scaled(10))
        elapsed = time.monotonic() - t_start
        self.assertEqual(still_waiting, [True] * 3,
                         "the slow fetches ended before the quick requests were served")
        self.assertLess(quick, 1.0 * SCALE)
        # Concurrent, not one after another.
        self.assertLess(elapsed, 2 * delay)
        for i, answer in enumerate(answers):
            self.assertIsNotNone(answer, "fetch %d did not answer" % i)
            doc = self.ok(answer)
            self.assertOk(doc, web.url("/slow?i=%d" % i))
            self.assertEqual(doc["body"], expect_body(PAGE))
            self.assertGreaterEqual(doc["timing"]["ttfb_ms"], delay * 1000 - 10)

    def test_sigterm_after_fetches_exits_0(self):
        svc = self.start_service()
        web = self.site({"/": page})
        refused = refused_tcp_port(self)
        self.assertEqual(self.fetch(svc=svc, url=web.url("/"))["status"], "ok")
        self.assertEqual(self.fetch(svc=svc, url="http://127.0.0.1:%d/" % refused)["status"],
                         "error")
        self.assertEqual(svc.get("/healthz")[0], 200)
        self.assertEqual(svc.stop(timeout=15), 0, "\n".join(svc.log_lines()[-20:]))
        self.assertEqual(svc.sanitizer_report(), [])


if __name__ == "__main__":
    unittest.main()
