"""
test_dashboard.py - the dashboard at / in a real browser.

The real netprobe binary serves the page; NSD (tests/integration/dnsfixture.py)
serves np.test. on loopback. drive_dashboard.mjs drives Debian's chromium
through playwright-core: it fills and submits every form (DNS lookup with
flags and transport, resolver comparison, reverse DNS with forward
confirmation, a batch, an HTTP fetch, a port scan, raw TCP and UDP
exchanges, the target policy), and
reports what the page shows.
These tests check it against what the zone holds: records in the right
sections, NXDOMAIN, problem documents naming the parameter, a TXT record
full of markup shown as text and never run, the Content-Security-Policy
with no violation, no request leaving the service's origin, and the API
token flow with --auth-token.

Traffic goes only to 127.0.0.1, to ports these tests opened.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import dnsfixture  # noqa: E402
import harness  # noqa: E402
from harness import Service, scaled  # noqa: E402

DRIVER = os.path.join(HERE, "drive_dashboard.mjs")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TOKEN = "dash-token-0123456789"

NS = None


def setUpModule():
    global NS
    NS = dnsfixture.NsdServer().start()


def tearDownModule():
    if NS is not None:
        NS.stop()


def drive(svc, scenario, args):
    """Runs the browser driver against svc; returns what the page showed."""
    for tool in ("node", CHROMIUM):
        if shutil.which(tool) is None:
            raise AssertionError("%s not found: scripts/install-deps.sh --test installs it" % tool)
    if not os.path.isdir(os.path.join(HERE, "..", "node_modules", "playwright-core")):
        raise AssertionError("playwright-core missing: run scripts/install-node-tools.sh")
    env = dict(os.environ, CHROMIUM=CHROMIUM, STEP_TIMEOUT_MS=str(int(scaled(15) * 1000)))
    p = subprocess.run(["node", DRIVER, "http://%s:%d" % (harness.HOST, svc.port), scenario,
                        json.dumps(args)],
                       capture_output=True, timeout=scaled(120), env=env, cwd=HERE)
    if p.returncode != 0:
        raise AssertionError("driver failed (%d):\n%s" % (p.returncode, p.stderr.decode()[-3000:]))
    return json.loads(p.stdout)


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = Service(["--dns-server", NS.address]).start()
        # a port held bound but not listening: closed for the scan
        cls.closed = socket.socket()
        cls.closed.bind((harness.HOST, 0))
        try:
            cls.seen = drive(cls.svc, "main", {"server": NS.address, "http_port": cls.svc.port,
                                                "tcp_port": cls.svc.tcp_port,
                                                "udp_port": cls.svc.udp_port,
                                                "closed_port": cls.closed.getsockname()[1]})
        except BaseException:
            cls.svc.finish()
            cls.closed.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.closed.close()
        problems = cls.svc.finish()
        if problems:
            raise AssertionError("\n".join(problems))

    def test_nothing_shows_null_or_undefined(self):
        for key, out in self.seen.items():
            if isinstance(out, dict) and "shown" in out:
                self.assertNotRegex(out["shown"], r"\b(null|undefined|NaN|\[object)", key)

    def test_page_loads_clean(self):
        s = self.seen
        self.assertEqual(s["page_status"], 200)
        self.assertEqual(s["title"], "netprobe")
        self.assertRegex(s["version"], r"^v\d+\.\d+")
        self.assertIn("default-src 'none'", s["csp_header"])
        self.assertEqual(s["csp_violations"], [])
        self.assertEqual(s["page_errors"], [])
        # 4xx answers are shown in the page; the browser logs nothing else
        self.assertEqual([e for e in s["console_errors"]
                          if "status of 400" not in e and "status of 403" not in e], [])
        self.assertEqual(s["foreign_requests"], [])

    def test_mx_lookup_shows_the_records(self):
        mx = self.seen["mx"]
        self.assertIsNone(mx["problem"])
        self.assertEqual((mx["status"], mx["rcode"]), ("ok", "NOERROR"))
        self.assertIn("aa", mx["flags"].split())
        self.assertIn("rd", mx["flags"].split())
        self.assertEqual(mx["server"], NS.address + " udp")
        self.assertEqual(sorted(mx["sections"]["answer"]), [
            ["mx.np.test.", "300", "IN", "MX", "10 mail.np.test."],
            ["mx.np.test.", "300", "IN", "MX", "20 backup.example.net."],
        ])
        self.assertRegex(mx["request_id"], r"^[0-9a-f]{8}-")
        self.assertEqual(json.loads(mx["raw"])["query"]["type"], "MX")

    def test_nxdomain_over_tcp(self):
        nx = self.seen["nxdomain"]
        self.assertEqual((nx["status"], nx["rcode"]), ("ok", "NXDOMAIN"))
        self.assertEqual(nx["server"], NS.address + " tcp")
        self.assertTrue(nx["no_answer"])
        self.assertEqual(nx["sections"]["authority"][0][3], "SOA")

    def test_markup_in_dns_data_is_text(self):
        h = self.seen["html_txt"]
        self.assertEqual(h["sections"]["answer"], [[
            "html.np.test.", "300", "IN", "TXT",
            '"<img src=x onerror=window.__np_xss=1>" "<script>window.__np_xss=2</script>"']])
        self.assertEqual(h["elements"], 0)
        self.assertIsNone(self.seen["xss_flag"])

    def test_bad_input_shows_the_problem(self):
        b = self.seen["bad_name"]
        self.assertEqual(b["problem"]["status"], "400")
        self.assertEqual(b["problem"]["title"], "400 Bad Request")
        self.assertEqual(b["problem"]["param"], "name")
        self.assertTrue(b["problem"]["detail"])
        d = self.seen["denied_server"]
        self.assertEqual(d["problem"]["status"], "403")
        self.assertEqual(d["problem"]["param"], "server")

    def test_compare_resolvers(self):
        c = self.seen["compare"]
        self.assertIsNone(c["problem"])
        self.assertEqual(c["agree"], "1")
        self.assertEqual(len(c["compare"]), 2)
        for row in c["compare"]:
            self.assertEqual(row[0], NS.address)
            self.assertEqual(row[1:3], ["ok", "NOERROR"])
            self.assertEqual(row[4], dnsfixture.WWW_A)

    def test_reverse_dns_with_confirmation(self):
        g = self.seen["rdns_good"]
        self.assertEqual((g["status"], g["rcode"]), ("ok", "NOERROR"))
        self.assertEqual(g["ptr_asked"], "10.0.0.127.in-addr.arpa.")
        self.assertEqual(g["fcrdns"], "1")
        self.assertEqual(g["ptr_names"], ["good.np.test. maps back (127.0.0.10)"])
        b = self.seen["rdns_bad"]
        self.assertEqual(b["fcrdns"], "0")
        self.assertEqual(b["ptr_names"], ["bad.np.test. does not map back (127.0.0.99)"])
        self.assertEqual(self.seen["rdns_invalid"]["problem"]["param"], "ip")

    def test_batch_in_order(self):
        b = self.seen["batch"]
        self.assertIsNone(b["problem"])
        rows = [(r[0], r[1], r[2], r[4]) for r in b["batch"]]
        self.assertEqual(rows, [
            ("www.np.test.", "ok", "NOERROR", "A " + dnsfixture.WWW_A),
            ("nope.np.test.", "ok", "NXDOMAIN", ""),
            ("c1.np.test.", "ok", "NOERROR",
             "CNAME c2.np.test., CNAME c3.np.test., A 192.0.2.33"),
        ])

    def test_fetch(self):
        f = self.seen["fetch"]
        self.assertIsNone(f["problem"])
        self.assertEqual(f["status"], "ok")
        self.assertEqual(f["fetch_code"], "HTTP 200")
        self.assertEqual(f["fetch_body"], '{"status":"ok"}')
        self.assertIn(["content-type", "application/json"], f["fetch_headers"])
        self.assertRegex(f["fetch_timing"], r"^resolve [0-9.]+ ms, connect [0-9.]+ ms, "
                                            r"ttfb [0-9.]+ ms, total [0-9.]+ ms$")

    def test_port_scan(self):
        sc = self.seen["scan"]
        self.assertIsNone(sc["problem"])
        self.assertEqual(sc["status"], "ok")
        self.assertEqual(sc["scan_counts"], "2 open, 1 closed, 0 filtered")
        self.assertEqual(sc["scan_complete"], "1")
        self.assertEqual([r[0] for r in sc["scan_rows"]],
                         [str(p) for p in sorted((self.svc.tcp_port, self.svc.port))])

    def test_raw_exchanges(self):
        t = self.seen["raw_tcp"]
        self.assertIsNone(t["problem"])
        self.assertEqual(t["status"], "ok")
        self.assertEqual(t["ended_by"], "ended by close")
        self.assertEqual(t["raw_received"], "Hello from server")
        # \r\n typed as text became CR LF: netprobe answered the request
        h = self.seen["raw_http"]
        self.assertEqual(h["status"], "ok")
        self.assertTrue(h["raw_received"].startswith("HTTP/1.1 200 OK\r\n"), h["raw_received"])
        self.assertTrue(h["raw_received"].endswith('\r\n\r\n{"status":"ok"}'), h["raw_received"])
        u = self.seen["raw_udp"]
        self.assertEqual(u["status"], "ok")
        self.assertEqual(u["ended_by"], "ended by count")
        self.assertEqual(u["raw_datagrams"], ["Hello from server"])
        d = self.seen["raw_denied"]
        self.assertEqual(d["problem"]["status"], "403")
        self.assertEqual(d["problem"]["param"], "host")

    def test_policy_check(self):
        d = self.seen["policy_denied"]
        self.assertEqual(d["verdict"], "0")
        self.assertEqual(d["verdicts"][0][0], "denied")
        self.assertIn("169.254.0.0/16", d["verdicts"][0][1])
        a = self.seen["policy_allowed"]
        self.assertEqual(a["verdict"], "1")
        self.assertEqual(a["verdicts"][0][0], "allowed")


class DashboardTokenTest(unittest.TestCase):
    def test_token_is_sent_and_kept_for_the_tab(self):
        svc = Service(["--dns-server", NS.address, "--auth-token", TOKEN]).start()
        try:
            seen = drive(svc, "token", {"token": TOKEN})
        finally:
            problems = svc.finish()
        self.assertEqual(problems, [])
        self.assertEqual(seen["page_status"], 200)
        w = seen["without_token"]
        self.assertEqual(w["problem"]["status"], "401")
        self.assertEqual(w["problem"]["param"], "Authorization")
        t = seen["with_token"]
        self.assertIsNone(t["problem"])
        self.assertEqual((t["status"], t["rcode"]), ("ok", "NOERROR"))
        self.assertEqual(t["sections"]["answer"][0][4], dnsfixture.WWW_A)
        self.assertEqual(seen["token_after_reload"], TOKEN)
        self.assertEqual(seen["page_errors"], [])
        self.assertEqual(seen["csp_violations"], [])


if __name__ == "__main__":
    unittest.main()
