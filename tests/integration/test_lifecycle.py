"""
test_lifecycle.py - requests held suspended on the event loop, graceful
shutdown, the grace period, client disconnects, deadlines and several
workers. /debug/delay?ms=N (with --debug-endpoints) holds a request
suspended on a loop timer for N ms and answers {"delayed_ms":N}.
"""
import json
import signal
import socket
import time
import unittest

import harness
from harness import HOST, SANITIZED, RawRequests, ServiceTestCase, scaled

IN_FLIGHT = "netprobe_http_requests_in_flight"


def delayed(ms):
    return ('{"delayed_ms":%d}' % ms).encode()


def setUpModule():
    # 1,000 client sockets plus the service's own (it inherits the limit).
    harness.raise_nofile(4096)


class LifecycleTests(ServiceTestCase):

    def assertAllDelayed(self, answers, ms):
        for status, headers, body, seconds in answers:
            self.assertEqual(status, 200, body)
            self.assertEqual(headers["Content-Type"], "application/json")
            self.assertEqual(body, delayed(ms))
            # The loop timer never fires early (1 ms of clock granularity).
            self.assertGreaterEqual(seconds, ms / 1000.0 - 0.001)

    def test_open_file_limit_raised_to_the_hard_limit(self):
        # Started with a soft limit of 256 (the hard one left as it is: a
        # process may not raise it back), the service takes the whole hard
        # limit (each probe holds a socket).
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard <= 256:
            self.skipTest("the hard open-file limit is only %d" % hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
            svc = self.start_service()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        with open("/proc/%d/limits" % svc.pid) as f:
            line = next(l for l in f if l.startswith("Max open files"))
        got_soft, got_hard = line.split()[3:5]
        self.assertEqual(got_soft, got_hard)
        self.assertNotEqual(got_soft, "256")

    def test_thousand_suspended_requests_on_one_worker(self):
        n = 1000
        self.assertGreaterEqual(harness.raise_nofile(4096), n + 100)
        svc = self.start_service(["--debug-endpoints"], workers=1)
        # Under ASan the 1,000 connects take longer: wait longer so that all
        # of them are surely held at once.
        ms = 6000 if SANITIZED else 2000
        t0 = time.monotonic()
        reqs = RawRequests(svc.port, "/debug/delay?ms=%d" % ms, n)
        try:
            opened = time.monotonic() - t0
            self.assertLess(opened, ms / 1000.0, "opening took longer than the delay")
            # The scrape is a request too: 1,000 held + 1.
            peak = svc.wait_metric(IN_FLIGHT, lambda v: v >= n, timeout=ms / 1000.0 / harness.SCALE)
            self.assertGreaterEqual(peak, n)
            self.assertLessEqual(peak, n + 1)
            answers = reqs.collect(scaled(ms / 1000.0 + 15))
        finally:
            reqs.close()
        self.assertEqual(len(answers), n)
        self.assertAllDelayed(answers, ms)
        self.assertEqual(svc.metric("netprobe_http_requests_total", route="/debug/delay",
                                    method="GET", status="200"), float(n))
        self.assertEqual(svc.metric(IN_FLIGHT), 1.0)  # the scrape itself
        self.assertEqual(svc.stop(), 0)

    def test_sigterm_finishes_requests_in_flight(self):
        svc = self.start_service(["--debug-endpoints"])
        reqs = RawRequests(svc.port, "/debug/delay?ms=1000", 20)
        try:
            svc.wait_metric(IN_FLIGHT, lambda v: v >= 20)
            t_sig = time.monotonic()
            svc.send_signal(signal.SIGTERM)
            # New connections are refused soon after the signal, while the
            # 20 are still waiting on their timers.
            self.assertTrue(harness.wait_port_closed(svc.port, scaled(0.5)),
                            "the HTTP port still accepts connections after SIGTERM")
            refused_after = time.monotonic() - t_sig
            answers = reqs.collect(scaled(10))
        finally:
            reqs.close()
        self.assertLess(refused_after, 1.0 * harness.SCALE)
        self.assertEqual(len(answers), 20)
        self.assertAllDelayed(answers, 1000)
        rc = svc.wait(scaled(10))
        self.assertEqual(rc, 0, "\n".join(svc.log_lines()[-10:]))
        lines = svc.log_lines()
        self.assertTrue(any("signal 15: draining (grace 10000 ms)" in l for l in lines), lines)
        self.assertTrue(lines[-1].endswith(" info  stopped"), lines[-1])
        # Nothing listens on the demo listener ports either.
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((HOST, svc.tcp_port), timeout=scaled(2)).close()

    def test_readyz_is_503_while_draining(self):
        svc = self.start_service(["--debug-endpoints"], workers=1)
        conn = svc.connection()  # keep-alive: opened before the signal
        try:
            conn.request("GET", "/readyz")
            resp = conn.getresponse()
            self.assertEqual((resp.status, resp.read()), (200, b'{"status":"ready"}'))
            reqs = RawRequests(svc.port, "/debug/delay?ms=1000", 1)
            try:
                svc.wait_metric(IN_FLIGHT, lambda v: v >= 1 + 1)  # + the scrape
                svc.send_signal(signal.SIGTERM)
                self.assertTrue(harness.wait_port_closed(svc.port, scaled(0.5)))
                conn.request("GET", "/readyz")
                resp = conn.getresponse()
                doc = json.loads(resp.read())
                self.assertEqual(resp.status, 503)
                self.assertEqual(resp.getheader("Retry-After"), "1")
                self.assertEqual(resp.getheader("Content-Type"), "application/problem+json")
                self.assertEqual(doc["type"], "https://netprobe.dev/problems/unavailable")
                self.assertEqual(doc["detail"], "the service is shutting down")
                self.assertEqual(doc["instance"], "/readyz")
                answers = reqs.collect(scaled(10))
            finally:
                reqs.close()
        finally:
            conn.close()
        self.assertAllDelayed(answers, 1000)
        self.assertEqual(svc.wait(scaled(10)), 0)

    def test_grace_period_expiry_answers_503(self):
        svc = self.start_service(["--debug-endpoints", "--shutdown-grace", "300"])
        reqs = RawRequests(svc.port, "/debug/delay?ms=5000", 1)
        try:
            svc.wait_metric(IN_FLIGHT, lambda v: v >= 2)  # held + the scrape
            t_sig = time.monotonic()
            svc.send_signal(signal.SIGTERM)
            answers = reqs.collect(scaled(5))
        finally:
            reqs.close()
        rc = svc.wait(scaled(5))
        exited_after = time.monotonic() - t_sig
        status, headers, body, _ = answers[0]
        self.assertEqual(status, 503, body)
        self.assertEqual(headers["Content-Type"], "application/problem+json")
        self.assertEqual(headers["Retry-After"], "1")
        n = int(headers["Content-Length"])
        doc = json.loads(body[:n])
        self.assertEqual(doc, {"type": "https://netprobe.dev/problems/unavailable",
                               "title": "Service Unavailable", "status": 503,
                               "detail": "the service is shutting down",
                               "instance": "/debug/delay",
                               "request_id": headers["X-Request-Id"]})
        self.assertEqual(rc, 0)
        self.assertLess(exited_after, scaled(2.0))
        lines = svc.log_lines()
        self.assertTrue(any("grace period over, cancelling 1 request(s)" in l for l in lines),
                        lines)
        self.assertTrue(any(" access %s GET /debug/delay 503 " % headers["X-Request-Id"] in l
                            for l in lines), lines)

    def test_max_inflight_sheds_load_with_503(self):
        svc = self.start_service(["--debug-endpoints", "--max-inflight", "5"], workers=1)
        held = RawRequests(svc.port, "/debug/delay?ms=800", 5)
        try:
            svc.wait_metric(IN_FLIGHT, lambda v: v >= 6)
            answer = svc.json("GET", "/debug/delay?ms=0")
            self.assertProblem(answer, 503, "/debug/delay")
            self.assertEqual(answer[1]["Retry-After"], "1")
            self.assertIn("--max-inflight", answer[2]["detail"])
            # DoH is a probe too (public, but not an ops endpoint): shed.
            doh = svc.json("GET", "/dns-query?dns=AAABAAABAAAAAAAAAAAAAQAB")
            self.assertProblem(doh, 503, "/dns-query")
            # Ops endpoints are never shed: health checks keep working.
            status, _, body = svc.get("/healthz")
            self.assertEqual((status, body), (200, b'{"status":"ok"}'))
            self.assertAllDelayed(held.collect(scaled(5)), 800)
        finally:
            held.close()
        # Capacity is back once the held requests are answered.
        status, _, body = svc.get("/debug/delay?ms=0")
        self.assertEqual((status, body), (200, delayed(0)))

    def test_disconnected_clients_are_cleaned_up(self):
        svc = self.start_service(["--debug-endpoints"])
        reqs = RawRequests(svc.port, "/debug/delay?ms=1000", 50)
        svc.wait_metric(IN_FLIGHT, lambda v: v >= 51)
        t_closed = time.monotonic()
        reqs.close()
        # The server watches suspended connections for the peer's close
        # and cancels their work at once, well before the 1 s delays end.
        svc.wait_metric(IN_FLIGHT, lambda v: v == 1, timeout=5)
        self.assertLess(time.monotonic() - t_closed, 0.5)
        status, headers, body = svc.get("/healthz")
        self.assertEqual((status, body), (200, b'{"status":"ok"}'))
        m = svc.metrics()
        by_status = {dict(k[1])["status"]: v for k, v in m.items()
                     if k[0] == "netprobe_http_requests_total"
                     and dict(k[1]).get("route") == "/debug/delay"}
        self.assertEqual(by_status, {"499": 50.0})
        # Still serves delays after the abandoned ones.
        reqs = RawRequests(svc.port, "/debug/delay?ms=10", 5)
        try:
            self.assertAllDelayed(reqs.collect(scaled(5)), 10)
        finally:
            reqs.close()
        self.assertEqual(svc.stop(), 0)

    # A request whose client left before the answer is counted and logged
    # as 499, whatever MHD manages to write to the dead socket.
    def test_abandoned_requests_count_as_499(self):
        svc = self.start_service(["--debug-endpoints"])
        reqs = RawRequests(svc.port, "/debug/delay?ms=300", 100)
        svc.wait_metric(IN_FLIGHT, lambda v: v >= 101)
        reqs.close()
        svc.wait_metric(IN_FLIGHT, lambda v: v == 1, timeout=5)
        m = svc.metrics()
        by_status = {dict(k[1])["status"]: v for k, v in m.items()
                     if k[0] == "netprobe_http_requests_total"
                     and dict(k[1]).get("route") == "/debug/delay"}
        self.assertEqual(by_status, {"499": 100.0})

    def test_deadline_bounds_the_delay(self):
        svc = self.start_service(["--debug-endpoints", "--max-timeout-ms", "1000",
                                  "--default-timeout-ms", "1000"])
        status, headers, body = svc.get("/debug/delay?ms=1000")
        self.assertEqual((status, body), (200, delayed(1000)))
        answer = svc.json("GET", "/debug/delay?ms=1001")
        self.assertProblem(answer, 400, "/debug/delay", param="ms",
                           detail="1001 is out of range [0, 1000]")
        answer = svc.json("GET", "/debug/delay?ms=abc")
        self.assertProblem(answer, 400, "/debug/delay", param="ms",
                           detail="'abc' is not a non-negative integer")
        answer = svc.json("GET", "/debug/delay?ms=-5")
        self.assertProblem(answer, 400, "/debug/delay", param="ms",
                           detail="'-5' is not a non-negative integer")
        status, headers, body = svc.get("/debug/delay")
        self.assertEqual((status, body), (200, delayed(0)))

    def test_four_workers_serve_concurrently(self):
        svc = self.start_service(["--debug-endpoints"], workers=4)
        self.assertEqual(svc.metric("netprobe_workers"), 4.0)
        t0 = time.monotonic()
        reqs = RawRequests(svc.port, "/debug/delay?ms=300", 200)
        try:
            answers = reqs.collect(scaled(10))
        finally:
            reqs.close()
        elapsed = time.monotonic() - t0
        self.assertEqual(len(answers), 200)
        self.assertAllDelayed(answers, 300)
        # Concurrent, not one after the other: far less than 200 x 300 ms.
        self.assertLess(elapsed, scaled(5))
        ids = {a[1]["X-Request-Id"] for a in answers}
        self.assertEqual(len(ids), 200)
        self.assertEqual(svc.metric("netprobe_http_requests_total", route="/debug/delay",
                                    method="GET", status="200"), 200.0)
        self.assertEqual(svc.stop(), 0)


if __name__ == "__main__":
    unittest.main()
