"""
test_ratelimit.py - per-client rate limiting of probe requests (--rate-limit,
--rate-burst; service/ratelimit.c) against the real binary.

  - with --rate-limit 5 --rate-burst 5 the 6th quick probe request gets 429
    problem+json with Retry-After, and after waiting that long the client
    is served again;
  - the ops endpoints (/, /healthz, /readyz, /version, /metrics,
    /openapi.yaml) are never limited, and CORS preflights cost nothing;
  - another client address (a socket bound to 127.0.0.2) has its own
    bucket; the workers share one bucket per client;
  - a POST /dns batch is one request; the burst defaults to twice the rate;
    the limit is off by default;
  - 429 answers carry X-Request-Id, CORS headers and an access-log line,
    and are counted in /metrics (promtool-clean);
  - IPv6 clients are counted per /64 (or per address with
    --rate-limit-ipv6-prefix 128); bad values exit 2 naming the flag.

Traffic goes only to 127.0.0.0/8 and ::1, to the ports of the services
these tests start; only those processes are stopped, by PID. Every wait is
time-bounded (tripled under NETPROBE_SANITIZED=1).
"""
import http.client
import json
import shutil
import subprocess
import time
import unittest

import harness
from harness import HOST, ServiceTestCase, run_netprobe, scaled

# A probe that answers at once: a literal address needs no DNS.
PROBE = "/policy/check?target=192.0.2.1"
PROBE_PATH = "/policy/check"
OPS = ("/", "/healthz", "/readyz", "/version", "/metrics", "/openapi.yaml")
LIMITED = "netprobe_rate_limited_requests_total"
REQUESTS = "netprobe_http_requests_total"


def detail(client, rate, burst, wait=1):
    return ("too many requests from %s: at most %d per second in bursts of %d "
            "(--rate-limit, --rate-burst); retry in %d s" % (client, rate, burst, wait))


def request(port, method, path, source=None, headers=None, body=None, host=HOST):
    """One request on a fresh connection, from the local address `source`
    (e.g. "127.0.0.2") when given -> (status, Headers, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=scaled(10),
                                      source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, harness.Headers(resp.getheaders()), resp.read()
    finally:
        conn.close()


def probe(svc, source=None, headers=None, path=PROBE):
    """GET a probe -> (status, Headers, parsed JSON body)."""
    status, headers, body = request(svc.port, "GET", path, source, headers)
    return status, headers, json.loads(body)


class RateLimitTests(ServiceTestCase):

    def assertLimited(self, answer, client, rate, burst, instance=PROBE_PATH):
        self.assertProblem(answer, 429, instance, detail=detail(client, rate, burst))
        self.assertEqual(answer[1]["Retry-After"], "1")

    def test_sixth_quick_request_is_429_until_retry_after(self):
        svc = self.start_service(["--rate-limit", "5", "--rate-burst", "5"])
        t0 = time.monotonic()
        answers = [probe(svc) for _ in range(6)]
        elapsed = time.monotonic() - t0
        # A token comes back every 200 ms: six requests sent faster than
        # that meet an empty bucket at the sixth.
        self.assertLess(elapsed, 0.2, "the six requests were too slow to test the burst")
        self.assertEqual([a[0] for a in answers], [200] * 5 + [429],
                         [a[2] for a in answers])
        for status, headers, doc in answers[:5]:
            self.assertEqual(headers["Content-Type"], "application/json")
            self.assertEqual(doc["allowed"], True)
            self.assertNotIn("Retry-After", headers)
        self.assertLimited(answers[5], "127.0.0.1", 5, 5)
        # Refused requests take no token: still refused at once.
        self.assertLimited(probe(svc), "127.0.0.1", 5, 5)
        # The client that waits Retry-After seconds is served again.
        time.sleep(int(answers[5][1]["Retry-After"]))
        status, _, doc = probe(svc)
        self.assertEqual((status, doc["allowed"]), (200, True))

    def test_ops_endpoints_are_never_limited(self):
        svc = self.start_service(["--rate-limit", "1", "--rate-burst", "1",
                                  "--cors-origin", "https://dash.example"])
        self.assertEqual(probe(svc)[0], 200)
        self.assertLimited(probe(svc), "127.0.0.1", 1, 1)
        for _ in range(3):
            for path in OPS:
                status, _, body = request(svc.port, "GET", path)
                self.assertEqual(status, 200, "%s: %r" % (path, body[:200]))
            self.assertEqual(request(svc.port, "HEAD", "/healthz")[0], 200)
        status, headers, _ = request(svc.port, "OPTIONS", PROBE_PATH,
                                     headers={"Origin": "https://dash.example",
                                              "Access-Control-Request-Method": "GET"})
        self.assertEqual(status, 204)
        self.assertEqual(headers["Access-Control-Allow-Origin"], "https://dash.example")
        self.assertLimited(probe(svc), "127.0.0.1", 1, 1)

    def test_cors_preflight_costs_nothing(self):
        svc = self.start_service(["--rate-limit", "1", "--rate-burst", "2",
                                  "--cors-origin", "https://dash.example"])
        for _ in range(10):
            status, _, _ = request(svc.port, "OPTIONS", PROBE_PATH,
                                   headers={"Origin": "https://dash.example",
                                            "Access-Control-Request-Method": "GET"})
            self.assertEqual(status, 204)
        self.assertEqual([probe(svc)[0] for _ in range(3)], [200, 200, 429])

    def test_another_client_address_is_not_affected(self):
        svc = self.start_service(["--rate-limit", "1", "--rate-burst", "2"])
        self.assertEqual([probe(svc)[0] for _ in range(2)], [200, 200])
        self.assertLimited(probe(svc), "127.0.0.1", 1, 2)
        # 127.0.0.2 is another client, with a full bucket of its own.
        self.assertEqual([probe(svc, source="127.0.0.2")[0] for _ in range(2)], [200, 200])
        limited = probe(svc, source="127.0.0.2")
        self.assertLimited(limited, "127.0.0.2", 1, 2)
        self.assertLimited(probe(svc), "127.0.0.1", 1, 2)
        rid = limited[1]["X-Request-Id"]
        svc.wait_log(lambda lines: any(" access %s GET %s 429 " % (rid, PROBE_PATH) in l
                                       and l.endswith(" 127.0.0.2") for l in lines))

    def test_workers_share_the_bucket(self):
        svc = self.start_service(["--rate-limit", "1", "--rate-burst", "3"], workers=2)
        answers = [probe(svc) for _ in range(16)]
        self.assertEqual([a[0] for a in answers], [200] * 3 + [429] * 13)
        # Request ids name the worker ("prefix-WW-counter"): the sixteen
        # connections were spread over both, and still only three passed.
        workers = {a[1]["X-Request-Id"].split("-")[1] for a in answers}
        self.assertEqual(workers, {"00", "01"})

    def test_batch_is_one_request(self):
        svc = self.start_service(["--rate-limit", "1", "--rate-burst", "2"])
        batch = {"queries": ["a.test", "b.test", "c.test", "d.test", "e.test"],
                 "timeout_ms": 200, "tries": 1}
        status, _, body = request(svc.port, "POST", "/dns",
                                  headers={"Content-Type": "application/json"},
                                  body=json.dumps(batch).encode())
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(json.loads(body)["count"], 5)
        # Five names, one token: one more request passes.
        self.assertEqual([probe(svc)[0] for _ in range(2)], [200, 429])

    def test_default_burst_is_twice_the_rate(self):
        svc = self.start_service(["--rate-limit", "2"])
        answers = [probe(svc) for _ in range(5)]
        self.assertEqual([a[0] for a in answers], [200] * 4 + [429])
        self.assertLimited(answers[4], "127.0.0.1", 2, 4)

    def test_off_by_default(self):
        svc = self.start_service()
        self.assertEqual({probe(svc)[0] for _ in range(30)}, {200})
        m = svc.metrics()
        self.assertEqual(m[(LIMITED, frozenset())], 0.0)
        self.assertEqual(m[("netprobe_rate_limit_slots", frozenset())], 0.0)

    def test_429_has_request_id_cors_and_access_log(self):
        origin = "https://dash.example"
        svc = self.start_service(["--rate-limit", "1", "--rate-burst", "1",
                                  "--cors-origin", origin])
        self.assertEqual(probe(svc)[0], 200)
        answer = probe(svc, headers={"Origin": origin, "X-Request-Id": "rl-test-1"})
        status, headers, doc = answer
        self.assertLimited(answer, "127.0.0.1", 1, 1)
        self.assertEqual(headers["X-Request-Id"], "rl-test-1")
        self.assertEqual(doc["request_id"], "rl-test-1")
        self.assertEqual(headers["Access-Control-Allow-Origin"], origin)
        self.assertIn("Retry-After", headers["Access-Control-Expose-Headers"])
        self.assertEqual(headers["Vary"], "Origin")
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        svc.wait_log(lambda lines: any(" access rl-test-1 GET %s 429 " % PROBE_PATH in l
                                       for l in lines))

    def test_metrics_count_it(self):
        svc = self.start_service(["--rate-limit", "1", "--rate-burst", "1"])
        self.assertEqual(probe(svc)[0], 200)
        for _ in range(4):
            self.assertEqual(probe(svc)[0], 429)
        # Every probe route is limited; this one would otherwise ask DNS.
        self.assertLimited(probe(svc, path="/rdns?ip=192.0.2.1"), "127.0.0.1", 1, 1,
                           instance="/rdns")
        svc.wait_metric(REQUESTS, lambda v: v == 1, route="/rdns", method="GET", status="429")
        m = svc.metrics()
        self.assertEqual(m[(LIMITED, frozenset())], 5.0)
        self.assertEqual(m[(REQUESTS, frozenset({("route", PROBE_PATH), ("method", "GET"),
                                                 ("status", "429")}))], 4.0)
        self.assertEqual(m[(REQUESTS, frozenset({("route", PROBE_PATH), ("method", "GET"),
                                                 ("status", "200")}))], 1.0)
        self.assertEqual(m[("netprobe_rate_limit_clients", frozenset())], 1.0)
        self.assertEqual(m[("netprobe_rate_limit_slots", frozenset())], 65536.0)
        self.assertEqual(m[("netprobe_rate_limit_evictions_total", frozenset())], 0.0)
        # The exposition stays valid with the rate limiter's families in it.
        promtool = shutil.which("promtool")
        if promtool is None:
            self.fail("promtool not found (Debian package prometheus)")
        status, _, body = svc.get("/metrics")
        self.assertEqual(status, 200)
        r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                           timeout=scaled(30))
        self.assertEqual((r.returncode, (r.stdout + r.stderr).decode(errors="replace").strip()),
                         (0, ""))

    def test_table_size_flag(self):
        svc = self.start_service(["--rate-limit", "100", "--rate-limit-clients", "100"])
        self.assertEqual(svc.metric("netprobe_rate_limit_slots"), 104.0)  # whole sets of 8

    def start_v6(self, args):
        """A service on [::1] (the harness's helpers speak to 127.0.0.1)."""
        svc = harness.Service(["--bind", "::1"] + args)
        self._services.append(svc)
        svc.start(wait_ready=False)
        deadline = time.monotonic() + scaled(10)
        while True:
            try:
                if request(svc.port, "GET", "/readyz", host="::1")[0] == 200:
                    return svc
            except OSError:
                pass
            if time.monotonic() > deadline or not svc.running():
                self.fail("netprobe on [::1] not ready:\n" + "\n".join(svc.log_lines()[-20:]))
            time.sleep(0.05)

    def test_ipv6_clients_by_network(self):
        for prefix, client in (("64", "::/64"), ("128", "::1")):
            with self.subTest(prefix=prefix):
                svc = self.start_v6(["--rate-limit", "1", "--rate-burst", "1",
                                     "--rate-limit-ipv6-prefix", prefix])
                statuses = []
                for _ in range(2):
                    status, headers, body = request(svc.port, "GET", PROBE, host="::1")
                    statuses.append(status)
                self.assertEqual(statuses, [200, 429])
                doc = json.loads(body)
                self.assertProblem((status, headers, doc), 429, PROBE_PATH,
                                   detail=detail(client, 1, 1))
                self.assertEqual(request(svc.port, "GET", "/healthz", host="::1")[0], 200)

    def test_bad_values_exit_2_naming_the_flag(self):
        for args, msg in (
                (["--rate-limit", "5", "--rate-burst", "0"],
                 "--rate-burst: 0 is out of range [1, 10000000]"),
                (["--rate-limit", "-1"], "--rate-limit: '-1' is not a non-negative integer"),
                (["--rate-limit-clients", "10"],
                 "--rate-limit-clients: 10 is out of range [64, 16777216]"),
                (["--rate-limit-ipv6-prefix", "129"],
                 "--rate-limit-ipv6-prefix: 129 is out of range [1, 128]")):
            with self.subTest(args=args):
                r = run_netprobe(args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stderr, "netprobe: %s\n" % msg)
        r = run_netprobe(["--rate-limit", "5"], env={"NETPROBE_RATE_BURST": "0"})
        self.assertEqual((r.returncode, r.stderr),
                         (2, "netprobe: NETPROBE_RATE_BURST: 0 is out of range [1, 10000000]\n"))
        r = run_netprobe(["--help"])
        for flag in ("--rate-limit=N", "--rate-burst=N", "--rate-limit-clients=N",
                     "--rate-limit-ipv6-prefix=N"):
            self.assertIn("  " + flag + " ", r.stdout)


if __name__ == "__main__":
    unittest.main()
