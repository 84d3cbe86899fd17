"""
test_metrics.py - GET /metrics: valid Prometheus text exposition (checked by
promtool, lint included), exact request counts, and well-formed histograms.
"""
import re
import shutil
import socket
import subprocess
import time
import unittest

import harness
from harness import HOST, ServiceTestCase, scaled

REQUESTS = "netprobe_http_requests_total"


def histograms(text):
    """Histogram samples of an exposition, keyed by (name, labels without le):
    buckets {key: [(le, value), ...] in exposition order}, sums {key: value},
    counts {key: value}."""
    buckets, sums, counts = {}, {}, {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = re.match(r'^([a-z_:]+)(?:\{(.*)\})? (\S+)$', line)
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        pairs = re.findall(r'([a-z_]+)="([^"]*)"', labels)
        rest = frozenset(p for p in pairs if p[0] != "le")
        if name.endswith("_bucket"):
            le = dict(pairs)["le"]
            buckets.setdefault((name[:-len("_bucket")], rest), []).append((le, value))
        elif name.endswith("_sum"):
            sums[(name[:-len("_sum")], rest)] = value
        elif name.endswith("_count"):
            counts[(name[:-len("_count")], rest)] = value
    return buckets, sums, counts


class MetricsTests(ServiceTestCase):

    def traffic(self, svc):
        """A bit of everything: routes, errors, delays, listeners."""
        for path in ("/healthz", "/version", "/nope", "/openapi.yaml",
                     "/policy/check?target=192.0.2.1", "/policy/check?target=10.1",
                     "/debug/delay?ms=1", "/debug/delay?ms=nope"):
            svc.get(path)
        svc.post("/healthz", b"{}")
        svc.request("HEAD", "/healthz")
        svc.request("OPTIONS", "/healthz")
        with socket.create_connection((HOST, svc.tcp_port), timeout=scaled(5)) as s:
            s.sendall(b"Hello from client")
            harness.recv_until_eof(s, scaled(5))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(scaled(5))
            u.sendto(b"ping", (HOST, svc.udp_port))
            u.recvfrom(65536)

    def test_promtool_accepts_the_exposition(self):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.fail("promtool not found (Debian package prometheus)")
        svc = self.start_service(["--debug-endpoints"])
        self.traffic(svc)
        status, headers, body = svc.get("/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                           timeout=scaled(30))
        problems = (r.stdout + r.stderr).decode(errors="replace").strip()
        if problems:
            print("promtool check metrics:\n" + problems)
        self.assertEqual((r.returncode, problems), (0, ""))
        # Every sample belongs to a family with HELP and TYPE (promtool
        # checks the form; this checks netprobe's own families are whole).
        text = body.decode()
        families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
        helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
        self.assertEqual(families, helps)
        for name in {k[0] for k in harness.parse_metrics(text)}:
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            self.assertTrue(name in families or base in families, name)

    def test_request_counter_is_exact(self):
        svc = self.start_service()
        key = dict(route="/healthz", method="GET", status="200")
        before = svc.metric(REQUESTS, 0.0, **key)
        before_404 = svc.metric(REQUESTS, 0.0, route="unmatched", method="any", status="404")
        n = 37
        conn = svc.connection()  # some on one keep-alive connection, some on new ones
        try:
            for i in range(n):
                if i % 2:
                    conn.request("GET", "/healthz")
                    resp = conn.getresponse()
                    self.assertEqual((resp.status, resp.read()), (200, b'{"status":"ok"}'))
                else:
                    self.assertEqual(svc.get("/healthz")[0], 200)
        finally:
            conn.close()
        for _ in range(5):
            self.assertEqual(svc.get("/nope")[0], 404)
        # Counted when the request completes, which may trail the answer a bit.
        svc.wait_metric(REQUESTS, lambda v: v >= before + n, **key)
        time.sleep(0.2)
        self.assertEqual(svc.metric(REQUESTS, **key), before + n)
        self.assertEqual(svc.metric(REQUESTS, route="unmatched", method="any", status="404"),
                         before_404 + 5)
        # The scrapes themselves are counted under /metrics (all but the last).
        self.assertGreaterEqual(svc.metric(REQUESTS, route="/metrics", method="GET",
                                           status="200"), 4.0)

    def test_histograms_are_cumulative(self):
        svc = self.start_service(["--debug-endpoints"])
        self.traffic(svc)
        reqs = harness.RawRequests(svc.port, "/debug/delay?ms=300", 3)
        try:
            answers = reqs.collect(scaled(10))
        finally:
            reqs.close()
        self.assertEqual([a[0] for a in answers], [200, 200, 200])
        key = dict(route="/debug/delay", method="GET", status="200")
        svc.wait_metric(REQUESTS, lambda v: v >= 4, **key)  # 3 + the ms=1 one
        status, _, body = svc.get("/metrics")
        buckets, sums, counts = histograms(body.decode())
        self.assertIn(("netprobe_http_request_duration_seconds",
                       frozenset({("route", "/healthz"), ("method", "GET")})), buckets)
        self.assertEqual(set(buckets), set(counts))
        self.assertEqual(set(buckets), set(sums))
        bounds = None
        for series, bs in buckets.items():
            with self.subTest(series=series):
                les = [le for le, _ in bs]
                self.assertEqual(les[-1], "+Inf")
                finite = [float(le) for le in les[:-1]]
                self.assertEqual(finite, sorted(finite))
                self.assertEqual(len(set(finite)), len(finite))
                if bounds is None:
                    bounds = finite
                self.assertEqual(finite, bounds, "all histograms share their buckets")
                values = [v for _, v in bs]
                for a, b in zip(values, values[1:]):
                    self.assertLessEqual(a, b, "buckets must be cumulative: %r" % bs)
                self.assertEqual(values[-1], counts[series])
                self.assertGreaterEqual(sums[series], 0.0)
        # The four delays (1 ms, 300 ms x3) land where they belong.
        delay = ("netprobe_http_request_duration_seconds",
                 frozenset({("route", "/debug/delay"), ("method", "GET")}))
        self.assertEqual(counts[delay], 5.0)  # 4 answered 200 + the 400
        by_le = dict(buckets[delay])
        self.assertEqual(by_le["0.25"], 2.0)  # ms=1 and the 400
        self.assertEqual(by_le["0.5"], 5.0)
        self.assertGreaterEqual(sums[delay], 0.9)
        self.assertLess(sums[delay], 0.9 + scaled(0.5))


if __name__ == "__main__":
    unittest.main()
