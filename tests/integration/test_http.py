"""
test_http.py - the HTTP foundation: routes, problem answers, HEAD, request
ids, CORS, body caps, the access log, bearer tokens, HTTPS, and the
embedded contract and dashboard. Each check is against exact bytes or
exact JSON fields.
"""
import http.client
import json
import re
import socket
import ssl
import subprocess
import tempfile
import unittest

import harness
from harness import HOST, ServiceTestCase, scaled

ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEALTHZ = b'{"status":"ok"}'
MAX_BODY = 1000


def pkg_version(name):
    """The version pkg-config reports for a library, or None."""
    try:
        r = subprocess.run(["pkg-config", "--modversion", name], capture_output=True,
                           text=True, timeout=10)
    except OSError:
        return None
    return r.stdout.strip() if r.returncode == 0 else None


class SharedServiceTests(ServiceTestCase):
    """Read-only checks against one service started for the class."""

    @classmethod
    def setUpClass(cls):
        cls.svc = cls.start_class_service(["--max-body", str(MAX_BODY),
                                           "--cors-origin", "https://dash.example"])

    # -- routes --

    def test_healthz(self):
        status, headers, body = self.svc.get("/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["Content-Length"], str(len(HEALTHZ)))
        self.assertEqual(body, HEALTHZ)
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")

    def test_readyz(self):
        status, headers, body = self.svc.get("/readyz")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(body, b'{"status":"ready"}')

    def test_version(self):
        status, headers, doc = self.svc.get_json("/version")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(set(doc), {"name", "version", "libraries"})
        self.assertEqual(doc["name"], "netprobe")
        self.assertEqual(doc["version"], harness.project_version())
        libs = doc["libraries"]
        self.assertEqual(set(libs), {"libmicrohttpd", "c-ares", "libcurl", "jansson", "tls"})
        for name, value in libs.items():
            self.assertIsInstance(value, str, name)
            self.assertRegex(value, r"\d+\.\d+", name)
        # The runtime libraries are the ones the build found.
        for key, pc in (("libmicrohttpd", "libmicrohttpd"), ("c-ares", "libcares"),
                        ("libcurl", "libcurl"), ("jansson", "jansson")):
            want = pkg_version(pc)
            if want is not None:
                self.assertEqual(libs[key], want, key)
        self.assertRegex(libs["tls"], r"^(OpenSSL|GnuTLS|LibreSSL|BoringSSL|wolfSSL|mbedTLS)/")

    def test_openapi_is_the_repository_file(self):
        status, headers, body = self.svc.get("/openapi.yaml")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/yaml")
        self.assertEqual(body, harness.read_source("openapi.yaml"))

    def test_dashboard_is_html(self):
        status, headers, body = self.svc.get("/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertEqual(body, harness.read_source("web/index.html"))
        self.assertTrue(body.lower().startswith(b"<!doctype html>"), body[:40])
        self.assertEqual(headers["Content-Security-Policy"],
                         "default-src 'none'; script-src 'self'; style-src 'self'; "
                         "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                         "form-action 'none'; frame-ancestors 'none'")
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(headers["Cache-Control"], "no-cache")
        # The page runs no inline script or style (the policy forbids them).
        self.assertNotRegex(body, rb"<script(?![^>]*\bsrc=)[^>]*>")
        self.assertNotIn(b"<style", body.lower())
        self.assertNotIn(b" style=", body.lower())
        self.assertNotRegex(body, rb"\son[a-z]+=")

    def test_dashboard_script_and_style(self):
        for path, ctype, src in (("/dashboard.js", "text/javascript; charset=utf-8",
                                  "web/dashboard.js"),
                                 ("/dashboard.css", "text/css; charset=utf-8",
                                  "web/dashboard.css")):
            status, headers, body = self.svc.get(path)
            self.assertEqual(status, 200, path)
            self.assertEqual(headers["Content-Type"], ctype)
            self.assertEqual(headers["Cache-Control"], "no-cache")
            self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
            self.assertEqual(body, harness.read_source(src))
            # HEAD gives the headers alone.
            status, headers, body = self.svc.request("HEAD", path)
            self.assertEqual((status, body), (200, b""))
            self.assertEqual(int(headers["Content-Length"]), len(harness.read_source(src)))

    # -- errors --

    def test_404_for_a_path_that_is_not_utf8(self):
        # MHD decodes %FF into a raw byte; the problem document cannot hold it
        # as a JSON string, and must still be a well-formed 404.
        status, headers, doc = self.svc.json("GET", "/x%FFy")
        self.assertEqual(status, 404)
        self.assertEqual(headers["Content-Type"], "application/problem+json")
        self.assertEqual(doc["status"], 404)
        self.assertEqual(doc["instance"], "/x?y")
        self.assertEqual(doc["detail"], "no such endpoint: /x?y")

    def test_404_problem(self):
        answer = self.svc.json("GET", "/nope")
        self.assertProblem(answer, 404, "/nope", detail="no such endpoint: /nope")
        # Debug routes do not exist without --debug-endpoints.
        answer = self.svc.json("GET", "/debug/delay?ms=1")
        self.assertProblem(answer, 404, "/debug/delay", detail="no such endpoint: /debug/delay")

    def test_405_problem_with_allow(self):
        for method, path in (("POST", "/healthz"), ("DELETE", "/metrics"), ("PUT", "/version")):
            with self.subTest(method=method, path=path):
                answer = self.svc.json(method, path)
                self.assertProblem(answer, 405, path,
                                   detail="%s is not allowed on %s; allowed: GET, HEAD"
                                   % (method, path))
                self.assertEqual(answer[1]["Allow"], "GET, HEAD")

    def test_head(self):
        for path in ("/healthz", "/version", "/openapi.yaml"):
            with self.subTest(path=path):
                gstatus, gheaders, gbody = self.svc.get(path)
                status, headers, body = self.svc.request("HEAD", path)
                self.assertEqual(status, 200)
                self.assertEqual(body, b"")
                self.assertEqual(headers["Content-Type"], gheaders["Content-Type"])
                self.assertEqual(headers["Content-Length"], str(len(gbody)))
                self.assertTrue(ID_RE.match(headers["X-Request-Id"]))
        status, headers, body = self.svc.request("HEAD", "/nope")
        self.assertEqual(status, 404)
        self.assertEqual(body, b"")
        self.assertEqual(headers["Content-Type"], "application/problem+json")

    # -- request ids --

    def test_request_id_kept_when_valid(self):
        for rid in ("abc-123", "trace:0af7651916cd43dd.8448eb211c80319c_1", "x" * 128):
            with self.subTest(rid=rid):
                status, headers, body = self.svc.get("/healthz", {"X-Request-Id": rid})
                self.assertEqual(status, 200)
                self.assertEqual(headers["X-Request-Id"], rid)
        # Problem documents carry the same id.
        status, headers, doc = self.svc.get_json("/nope", {"X-Request-Id": "my-id-404"})
        self.assertEqual(headers["X-Request-Id"], "my-id-404")
        self.assertEqual(doc["request_id"], "my-id-404")

    def test_request_id_generated_and_unique(self):
        ids = []
        for _ in range(100):
            status, headers, body = self.svc.get("/healthz")
            self.assertEqual(status, 200)
            ids.append(headers["X-Request-Id"])
        for rid in ids:
            self.assertRegex(rid, ID_RE)
        self.assertEqual(len(set(ids)), 100)

    def test_request_id_invalid_is_replaced(self):
        for bad in ("bad id", "<script>", "a/b", "x" * 129, "quote\"d", "caf\xe9"):
            with self.subTest(bad=bad):
                status, headers, doc = self.svc.get_json("/nope", {"X-Request-Id": bad})
                self.assertEqual(status, 404)
                rid = headers["X-Request-Id"]
                self.assertNotEqual(rid, bad)
                self.assertRegex(rid, ID_RE)
                self.assertEqual(doc["request_id"], rid)

    # -- CORS --

    def test_cors_allowed_origin(self):
        status, headers, body = self.svc.get("/healthz", {"Origin": "https://dash.example"})
        self.assertEqual(status, 200)
        self.assertEqual(body, HEALTHZ)
        self.assertEqual(headers["Access-Control-Allow-Origin"], "https://dash.example")
        self.assertEqual(headers["Vary"], "Origin")
        self.assertIn("X-Request-Id", headers["Access-Control-Expose-Headers"])

    def test_cors_other_origin(self):
        status, headers, body = self.svc.get("/healthz", {"Origin": "https://evil.example"})
        self.assertEqual(status, 200)
        self.assertEqual(body, HEALTHZ)
        self.assertNotIn("Access-Control-Allow-Origin", headers)
        self.assertNotIn("Access-Control-Expose-Headers", headers)
        status, headers, body = self.svc.get("/healthz")
        self.assertNotIn("Access-Control-Allow-Origin", headers)

    def test_cors_preflight(self):
        status, headers, body = self.svc.request("OPTIONS", "/healthz", {
            "Origin": "https://dash.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Request-Id"})
        self.assertEqual(status, 204)
        self.assertEqual(body, b"")
        self.assertEqual(headers["Access-Control-Allow-Origin"], "https://dash.example")
        self.assertEqual(headers["Vary"], "Origin")
        self.assertEqual(headers["Access-Control-Allow-Methods"], "GET, HEAD")
        self.assertEqual(headers["Access-Control-Allow-Headers"],
                         "Content-Type, Authorization, X-Request-Id, Accept")
        self.assertEqual(headers["Access-Control-Max-Age"], "600")
        self.assertEqual(headers["Allow"], "GET, HEAD")
        # A preflight from an origin not allowed gets no CORS grant.
        status, headers, body = self.svc.request("OPTIONS", "/healthz", {
            "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        self.assertEqual(status, 204)
        self.assertNotIn("Access-Control-Allow-Origin", headers)
        self.assertNotIn("Access-Control-Allow-Methods", headers)
        # An unknown path is a 404 even for OPTIONS.
        status, headers, body = self.svc.request("OPTIONS", "/nope",
                                                 {"Origin": "https://dash.example"})
        self.assertEqual(status, 404)

    # -- body caps --

    def raw(self, data, timeout=10):
        """Sends raw bytes on a new connection; returns (status, Headers, body,
        everything received) once the server closes."""
        with socket.create_connection((HOST, self.svc.port), timeout=scaled(timeout)) as s:
            s.sendall(data)
            got = harness.recv_until_eof(s, scaled(timeout))
        status, headers, body = harness.parse_raw_response(got)
        return status, headers, body, got

    def check_413(self, status, headers, body):
        self.assertEqual(status, 413)
        self.assertEqual(headers["Content-Type"], "application/problem+json")
        self.assertEqual(headers["Connection"].lower(), "close")
        n = int(headers["Content-Length"])
        doc = json.loads(body[:n])
        self.assertEqual(body[n:], b"", "nothing may follow the 413 answer")
        self.assertEqual(doc["type"], "https://netprobe.dev/problems/body-too-large")
        self.assertEqual(doc["title"], "Content Too Large")
        self.assertEqual(doc["status"], 413)
        self.assertEqual(doc["parameter"], "body")
        self.assertEqual(doc["instance"], "/healthz")
        self.assertEqual(doc["detail"], "the request body is larger than %d bytes" % MAX_BODY)
        self.assertEqual(doc["request_id"], headers["X-Request-Id"])

    def test_413_content_length_over_cap(self):
        # Headers only: the answer must come before any body byte is sent,
        # and the server must then close the connection (recv_until_eof).
        status, headers, body, _ = self.raw(
            b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        self.check_413(status, headers, body)
        status, headers, body, _ = self.raw(
            b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000000\r\n\r\n")
        self.check_413(status, headers, body)

    def chunked(self, sizes, extra=b""):
        out = (b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
               + extra + b"\r\n")
        for n in sizes:
            out += b"%x\r\n%s\r\n" % (n, b"a" * n)
        return out + b"0\r\n\r\n"

    def test_413_chunked_over_cap(self):
        status, headers, body, _ = self.raw(self.chunked([400, 400, 201]))
        self.check_413(status, headers, body)
        status, headers, body, _ = self.raw(self.chunked([5000] * 10))
        self.check_413(status, headers, body)

    def test_body_at_cap_is_accepted(self):
        # No foundation route takes POST, so an accepted body shows as 405.
        conn = self.svc.connection()
        try:
            conn.request("POST", "/healthz", body=b"b" * MAX_BODY,
                         headers={"Content-Type": "application/octet-stream"})
            resp = conn.getresponse()
            doc = json.loads(resp.read())
            self.assertEqual(resp.status, 405)
            self.assertEqual(doc["status"], 405)
            # The body was consumed exactly: the connection serves on.
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.read(), HEALTHZ)
        finally:
            conn.close()
        status, headers, body, _ = self.raw(self.chunked([500, 499, 1],
                                                         b"Connection: close\r\n"))
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")


class AccessLogTests(ServiceTestCase):
    """One line per request, in text and in JSON."""

    REQUESTS = [  # (method, path, request id, status, body)
        ("GET", "/healthz", "log-1", 200, None),
        ("GET", "/nope", "log-2", 404, None),
        ("POST", "/healthz", "log-3", 405, b"0123456789"),
        ("GET", "/version", "log-4", 200, None),
    ]

    def make_requests(self, svc):
        """Makes REQUESTS; returns {id: (method, path, status, body length)}."""
        want = {}
        for method, path, rid, status, body in self.REQUESTS:
            got, headers, data = svc.request(method, path, {"X-Request-Id": rid}, body)
            self.assertEqual(got, status)
            want[rid] = (method, path, status, len(data))
        return want

    def test_text_access_log(self):
        svc = self.start_service()
        want = self.make_requests(svc)
        pat = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) info  access (\S+) (\S+) "
                         r"(\S+) (\d{3}) (\d+) (\d+\.\d{3})ms (\S+)$")
        lines = svc.wait_log(lambda ls: all(any(" access %s " % rid in l for l in ls)
                                            for rid in want))
        access = [l for l in lines if " access " in l]
        seen = {}
        for line in access:
            m = pat.match(line)
            self.assertIsNotNone(m, "access line not in the expected form: %r" % line)
            _, rid, method, path, status, nbytes, dur, peer = m.groups()
            if rid not in want:
                # Only the harness's readiness polls besides our requests.
                self.assertEqual((method, path, status), ("GET", "/readyz", "200"))
                continue
            self.assertNotIn(rid, seen, "two lines for one request: %r" % line)
            seen[rid] = (method, path, int(status), int(nbytes))
            self.assertEqual(peer, "127.0.0.1")
            self.assertGreaterEqual(float(dur), 0.0)
            self.assertLess(float(dur), scaled(5000))
        self.assertEqual(seen, want)

    def test_json_access_log(self):
        svc = self.start_service(["--log-format", "json"])
        want = self.make_requests(svc)
        svc.wait_log(lambda ls: all(any('"request_id":"%s"' % rid in l for l in ls)
                                    for rid in want))
        seen = {}
        lines = svc.log_lines()
        self.assertTrue(lines)
        for line in lines:
            doc = json.loads(line)  # every line, access or not, is one JSON object
            self.assertIn(doc["level"], ("error", "warn", "info", "debug"))
            self.assertRegex(doc["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            if doc["msg"] != "access":
                continue
            self.assertEqual(set(doc), {"ts", "level", "msg", "request_id", "method", "path",
                                        "status", "bytes", "duration_ms", "peer"})
            self.assertEqual(doc["peer"], "127.0.0.1")
            self.assertIsInstance(doc["duration_ms"], float)
            self.assertGreaterEqual(doc["duration_ms"], 0.0)
            if doc["request_id"] not in want:
                self.assertEqual((doc["method"], doc["path"], doc["status"]),
                                 ("GET", "/readyz", 200))
                continue
            self.assertNotIn(doc["request_id"], seen)
            seen[doc["request_id"]] = (doc["method"], doc["path"], doc["status"], doc["bytes"])
        self.assertEqual(seen, want)

    def test_no_access_log(self):
        svc = self.start_service(["--no-access-log"])
        self.make_requests(svc)
        svc.stop()
        lines = svc.log_lines()
        self.assertTrue(any("listening on" in l for l in lines), lines)
        self.assertEqual([l for l in lines if " access " in l], [])


class CorsModesTests(ServiceTestCase):

    def test_cors_star(self):
        svc = self.start_service(["--cors-origin", "*"])
        status, headers, body = svc.get("/healthz", {"Origin": "https://anything.example"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Access-Control-Allow-Origin"], "*")
        self.assertNotIn("Vary", headers)
        status, headers, body = svc.request("OPTIONS", "/metrics", {
            "Origin": "https://anything.example", "Access-Control-Request-Method": "GET"})
        self.assertEqual(status, 204)
        self.assertEqual(headers["Access-Control-Allow-Origin"], "*")
        self.assertEqual(headers["Access-Control-Allow-Methods"], "GET, HEAD")
        self.assertEqual(headers["Access-Control-Allow-Headers"],
                         "Content-Type, Authorization, X-Request-Id, Accept")
        # No Origin, no CORS headers.
        status, headers, body = svc.get("/healthz")
        self.assertNotIn("Access-Control-Allow-Origin", headers)

    def test_cors_list(self):
        svc = self.start_service(["--cors-origin", "https://a.example,https://b.example"])
        for origin in ("https://a.example", "https://b.example"):
            status, headers, body = svc.get("/healthz", {"Origin": origin})
            self.assertEqual(headers["Access-Control-Allow-Origin"], origin)
            self.assertEqual(headers["Vary"], "Origin")
        for origin in ("https://c.example", "https://a.example.evil", "https://a.exampl"):
            status, headers, body = svc.get("/healthz", {"Origin": origin})
            self.assertNotIn("Access-Control-Allow-Origin", headers, origin)


class AuthTests(ServiceTestCase):

    def test_bearer_tokens(self):
        svc = self.start_service(["--auth-token", "a,b"])
        path = "/policy/check?target=192.0.2.1"
        answer = svc.json("GET", path)
        self.assertProblem(answer, 401, "/policy/check", param="Authorization",
                           detail="a valid bearer token is required for /policy/check")
        self.assertEqual(answer[1]["WWW-Authenticate"], 'Bearer realm="netprobe"')
        for bad in ("Bearer c", "Bearer a,b", "Bearer ", "Basic YTpi", "b", "Bearer bb",
                    "Bearer  b"):
            with self.subTest(authorization=bad):
                status, headers, doc = svc.get_json(path, {"Authorization": bad})
                self.assertEqual(status, 401)
                self.assertEqual(headers["WWW-Authenticate"], 'Bearer realm="netprobe"')
        for good in ("Bearer a", "Bearer b", "bearer b"):
            with self.subTest(authorization=good):
                status, headers, doc = svc.get_json(path, {"Authorization": good})
                self.assertEqual(status, 200, doc)
                self.assertEqual(doc["target"], "192.0.2.1")
                self.assertEqual(doc["address"], "192.0.2.1")
                self.assertEqual(doc["family"], "ipv4")
        # Health, readiness and metrics stay open for probes and scrapers.
        for open_path in ("/healthz", "/readyz", "/metrics", "/version"):
            status, headers, body = svc.get(open_path)
            self.assertEqual(status, 200, open_path)
        # Preflights carry no credentials (Fetch standard), so they pass.
        status, headers, body = svc.request("OPTIONS", "/policy/check")
        self.assertEqual(status, 204)
        # An unknown path is a 404 with or without a token.
        status, headers, body = svc.get("/nope")
        self.assertEqual(status, 404)


class TlsTests(ServiceTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="netprobe-tls-")
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.pki = harness.make_tls_material(cls.tmp.name)

    def test_https(self):
        svc = self.start_service(tls=self.pki)
        status, headers, body = svc.get("/healthz")  # verified against the test CA
        self.assertEqual(status, 200)
        self.assertEqual(body, HEALTHZ)
        self.assertTrue(ID_RE.match(headers["X-Request-Id"]))
        self.assertTrue(any("listening on https://127.0.0.1:%d" % svc.port in l
                            for l in svc.log_lines()))

        # The certificate is the one we made: a client without our CA refuses it.
        ctx = ssl.create_default_context()
        conn = http.client.HTTPSConnection(HOST, svc.port, timeout=scaled(10), context=ctx)
        with self.assertRaises(ssl.SSLCertVerificationError):
            conn.request("GET", "/healthz")
        conn.close()

        # The name in the certificate matters: localhost is in it, others are not.
        ctx = ssl.create_default_context(cafile=self.pki["ca_cert"])
        with socket.create_connection((HOST, svc.port), timeout=scaled(10)) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
                            b"Connection: close\r\n\r\n")
                got = harness.recv_until_eof(tls, scaled(10))
        status, headers, body = harness.parse_raw_response(got)
        self.assertEqual((status, body), (200, HEALTHZ))
        with socket.create_connection((HOST, svc.port), timeout=scaled(10)) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError):
                ctx.wrap_socket(raw, server_hostname="other.example")

    def test_plain_http_to_tls_port_fails(self):
        svc = self.start_service(tls=self.pki)
        conn = http.client.HTTPConnection(HOST, svc.port, timeout=scaled(10))
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            conn.request("GET", "/healthz")
            conn.getresponse()
        conn.close()
        with socket.create_connection((HOST, svc.port), timeout=scaled(10)) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            got = harness.recv_until_eof(s, scaled(10))
        self.assertFalse(got.startswith(b"HTTP/"), got[:100])
        # The TLS side still works after the plain-text attempts.
        status, headers, body = svc.get("/healthz")
        self.assertEqual((status, body), (200, HEALTHZ))


if __name__ == "__main__":
    unittest.main()
