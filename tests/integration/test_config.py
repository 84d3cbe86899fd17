"""
test_config.py - start-up configuration: bad values stop the start with
exit code 2 and a message naming the flag (or environment variable),
environment fallbacks, --help against the option table in service/config.c,
--version, and a port already in use.

Every run that should fail still gets free ports, so that a value wrongly
accepted makes the service start on a port of ours (and the run time out),
never on someone else's.
"""
import json
import os
import re
import socket
import unittest

import harness
from harness import HOST, ServiceTestCase, free_port, run_netprobe


def safe_args():
    """Ports of our own for a run that is expected to fail before serving."""
    return ["--port", str(free_port()), "--listener-tcp-port", str(free_port()),
            "--listener-udp-port", str(free_port()), "--workers", "1"]


def config_options():
    """(flag, type, default, help) for every entry of config.c's option table."""
    with open(os.path.join(harness.SOURCE_DIR, "service", "config.c"), encoding="utf-8") as f:
        src = f.read()
    m = re.search(r"static const struct opt options\[\] = \{(.*?)\n\};", src, re.S)
    if m is None:
        raise AssertionError("no options[] table in service/config.c")
    table = m.group(1)
    entry = re.compile(r'\{\s*"([^"]+)",\s*OPT_(\w+),\s*OFF\(\w+\),\s*[^,]+,\s*[^,]+,\s*\w+,\s*'
                       r'"([^"]*)",\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\}', re.S)
    opts = []
    for e in entry.finditer(table):
        helptext = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', e.group(4)))
        opts.append((e.group(1), e.group(2), e.group(3), helptext))
    # Every table entry must have been understood: count the "{" that open one.
    entries = len(re.findall(r'^\s*\{\s*"', table, re.M))
    if entries != len(opts) or not opts:
        raise AssertionError("parsed %d of %d option entries in config.c" % (len(opts), entries))
    return opts


def env_name(flag):
    return "NETPROBE_" + flag.upper().replace("-", "_")


class BadValueTests(ServiceTestCase):

    def assertRejected(self, args, expected, env=None):
        """netprobe args exits 2, with exactly 'netprobe: expected' on stderr
        and nothing on stdout."""
        r = run_netprobe(safe_args() + list(args), env=env)
        self.assertEqual(r.returncode, 2, "stderr: %r" % r.stderr)
        self.assertEqual(r.stderr, "netprobe: %s\n" % expected)
        self.assertEqual(r.stdout, "")

    def test_unknown_flag(self):
        self.assertRejected(["--frobnicate"], "--frobnicate: unknown option (see --help)")
        self.assertRejected(["--frobnicate=1"], "--frobnicate: unknown option (see --help)")
        self.assertRejected(["stray"], "unexpected argument 'stray' (options start with --)")
        # --no- only negates booleans.
        self.assertRejected(["--no-port"], "--no-port: unknown option (see --help)")

    def test_port_out_of_range(self):
        self.assertRejected(["--port", "70000"], "--port: 70000 is out of range [0, 65535]")

    def test_port_not_a_number(self):
        self.assertRejected(["--port", "abc"], "--port: 'abc' is not a non-negative integer")
        self.assertRejected(["--port=8o8o"], "--port: '8o8o' is not a non-negative integer")
        self.assertRejected(["--port="], "--port: '' is not a non-negative integer")

    def test_missing_value(self):
        self.assertRejected(["--port"], "--port: missing value")

    def test_workers_negative(self):
        self.assertRejected(["--workers", "-1"], "--workers: '-1' is not a non-negative integer")
        self.assertRejected(["--workers", "257"], "--workers: 257 is out of range [0, 256]")

    def test_bind_not_an_ip(self):
        self.assertRejected(["--bind", "not-an-ip"],
                            "--bind: 'not-an-ip' is not an IPv4 or IPv6 address")
        self.assertRejected(["--listener-bind", "256.1.1.1"],
                            "--listener-bind: '256.1.1.1' is not an IPv4 or IPv6 address")

    def test_listener_mode_bogus(self):
        self.assertRejected(["--listener-mode", "bogus"],
                            "--listener-mode: 'bogus' is not one of: greeting, echo")
        self.assertRejected(["--log-format", "xml"],
                            "--log-format: 'xml' is not one of: text, json")

    def test_bad_boolean(self):
        self.assertRejected(["--listeners=maybe"],
                            "--listeners: 'maybe' is not a boolean (true/false/1/0/on/off)")

    def test_tls_cert_without_key(self):
        r = run_netprobe(safe_args() + ["--tls-cert", "/nonexistent/cert.pem"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertIn("--tls-cert", r.stderr)
        self.assertIn("--tls-key", r.stderr)
        self.assertIn("together", r.stderr)
        r = run_netprobe(safe_args() + ["--tls-key", "/nonexistent/key.pem"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--tls-cert", r.stderr)

    def test_tls_cert_unreadable(self):
        r = run_netprobe(safe_args() + ["--tls-cert", "/nonexistent/cert.pem",
                                        "--tls-key", "/nonexistent/key.pem"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr, "netprobe: --tls-cert: cannot open '/nonexistent/cert.pem': "
                                   "No such file or directory\n")

    def test_default_timeout_above_max(self):
        self.assertRejected(["--default-timeout-ms", "2000", "--max-timeout-ms", "1000"],
                            "--default-timeout-ms: 2000 is above --max-timeout-ms (1000)")
        # The default of --max-timeout-ms (30000) counts too.
        self.assertRejected(["--default-timeout-ms", "40000"],
                            "--default-timeout-ms: 40000 is above --max-timeout-ms (30000)")

    def test_bad_cidr_exit_code(self):
        r = run_netprobe(safe_args() + ["--allow-cidr", "10.0.0.0/33"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertIn("10.0.0.0/33", r.stderr)
        r = run_netprobe(safe_args() + ["--deny-cidr", "10.0.0.0/8,,"])
        self.assertEqual(r.returncode, 2, r.stderr)

    # BUG (service/main.c, policy_new error path): the message for a bad CIDR
    # names the list ("allow list: bad CIDR ...") but not the flag that holds
    # it (--allow-cidr / --deny-cidr), unlike every other bad value.
    def test_bad_cidr_names_the_flag(self):
        r = run_netprobe(safe_args() + ["--allow-cidr", "10.0.0.0/33"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--allow-cidr", r.stderr)
        r = run_netprobe(safe_args() + ["--deny-cidr", "10.0.0.0/33"])
        self.assertIn("--deny-cidr", r.stderr)


class EnvironmentTests(ServiceTestCase):

    def test_bad_environment_value_names_the_variable(self):
        r = run_netprobe(safe_args()[2:], env={"NETPROBE_PORT": "abc"})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr, "netprobe: NETPROBE_PORT: 'abc' is not a non-negative integer\n")
        r = run_netprobe(safe_args(), env={"NETPROBE_LISTENER_MODE": "loud"})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr, "netprobe: NETPROBE_LISTENER_MODE: 'loud' is not one of: "
                                   "greeting, echo\n")

    def test_environment_sets_log_format(self):
        svc = self.start_service(env={"NETPROBE_LOG_FORMAT": "json"})
        status, _, _ = svc.get("/healthz", {"X-Request-Id": "env-json"})
        self.assertEqual(status, 200)
        lines = svc.wait_log(lambda ls: any("env-json" in l for l in ls))
        docs = [json.loads(l) for l in lines]  # every line is JSON
        self.assertTrue(any(d["msg"] == "access" and d["request_id"] == "env-json"
                            for d in docs))

    def test_environment_sets_workers(self):
        svc = self.start_service(workers=None, env={"NETPROBE_WORKERS": "3"})
        self.assertEqual(svc.metric("netprobe_workers"), 3.0)

    def test_flag_overrides_environment(self):
        svc = self.start_service(["--log-format", "text"], env={"NETPROBE_LOG_FORMAT": "json"})
        status, _, _ = svc.get("/healthz", {"X-Request-Id": "flag-text"})
        self.assertEqual(status, 200)
        lines = svc.wait_log(lambda ls: any(" access flag-text " in l for l in ls))
        self.assertFalse(any(l.startswith("{") for l in lines), lines)
        svc2 = self.start_service(["--workers", "1"], env={"NETPROBE_WORKERS": "3"})
        self.assertEqual(svc2.metric("netprobe_workers"), 1.0)

    # BUG (service/config.c, config_load): the environment is applied and
    # validated before the flags are read, so a bad NETPROBE_* value stops
    # the start even when a flag overrides it ("flags win over the
    # environment", says --help), and even --help / --version fail.
    def test_flag_overrides_bad_environment(self):
        r = run_netprobe(["--version"], env={"NETPROBE_PORT": "abc"})
        self.assertEqual((r.returncode, r.stdout),
                         (0, "netprobe %s\n" % harness.project_version()))
        svc = self.start_service(env={"NETPROBE_PORT": "abc"})  # the harness passes --port
        self.assertEqual(svc.get("/healthz")[0], 200)


class HelpVersionTests(unittest.TestCase):

    def test_help_lists_every_flag(self):
        r = run_netprobe(["--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertTrue(r.stdout.startswith("Usage: netprobe [options]\n"))
        lines = r.stdout.splitlines()
        # Each option: "  --flag...   help" then "   default: D; env NETPROBE_X".
        shown = {}
        for i, line in enumerate(lines):
            m = re.match(r"^  (--[a-z0-9-]+)(\S*)\s+(\S.*)$", line)
            if m is None:
                continue
            flag = m.group(1)[2:]
            self.assertNotIn(flag, shown, "flag listed twice")
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            shown[flag] = (m.group(2), m.group(3), nxt.strip())
        opts = config_options()
        table_flags = {o[0] for o in opts}
        self.assertEqual(set(shown), table_flags | {"list-routes", "version", "help"})
        for flag, typ, default, helptext in opts:
            with self.subTest(flag=flag):
                self.assertTrue(helptext.strip(), "--%s has no help text in config.c" % flag)
                arg, shown_help, detail = shown[flag]
                self.assertEqual(shown_help, helptext)
                self.assertEqual(detail, "default: %s; env %s" % (default, env_name(flag)))
                want_arg = {"BOOL": "[=BOOL]", "UINT": "=N", "SIZE": "=N", "STR": "=TEXT"}
                if typ == "ENUM":
                    self.assertRegex(arg, r"^=[a-z-]+(\|[a-z-]+)+$")
                else:
                    self.assertEqual(arg, want_arg[typ])
        # The values promised in the brief are there.
        self.assertEqual(shown["port"][2], "default: 8080; env NETPROBE_PORT")
        self.assertEqual(shown["bind"][2], "default: 127.0.0.1; env NETPROBE_BIND")
        self.assertEqual(shown["listener-mode"][0], "=greeting|echo")

    def test_short_help(self):
        r = run_netprobe(["-h"])
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, run_netprobe(["--help"]).stdout)

    def test_version(self):
        r = run_netprobe(["--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "netprobe %s\n" % harness.project_version())
        self.assertRegex(r.stdout, r"^netprobe \d+\.\d+\.\d+\n$")
        self.assertEqual(r.stderr, "")


class PortInUseTests(ServiceTestCase):

    def test_http_port_in_use(self):
        with socket.socket() as s:
            s.bind((HOST, 0))
            s.listen(1)
            port = s.getsockname()[1]
            args = safe_args()
            args[1] = str(port)
            r = run_netprobe(args)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr, "netprobe: --port: cannot use 127.0.0.1:%d (tcp): "
                                   "Address already in use\n" % port)

    # Every worker socket is bound with SO_REUSEPORT; main() first binds
    # each port without it, so a second netprobe cannot silently share the
    # ports of a running one.
    def test_http_port_held_by_another_netprobe(self):
        first = self.start_service()
        args = safe_args()
        args[1] = str(first.port)
        r = run_netprobe(args, timeout=2)  # raises if the second one keeps running
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("Address already in use", r.stderr)

    def test_listener_port_in_use(self):
        with socket.socket() as s:
            s.bind((HOST, 0))
            s.listen(1)
            port = s.getsockname()[1]
            args = safe_args()
            args[3] = str(port)
            r = run_netprobe(args)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--listener-tcp-port", r.stderr)
        self.assertIn("Address already in use", r.stderr)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
            args = safe_args()
            args[5] = str(port)
            r = run_netprobe(args)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--listener-udp-port", r.stderr)
        self.assertIn("Address already in use", r.stderr)

    def test_port_zero_picks_a_free_port(self):
        svc = harness.Service(["--port", "0"])
        self._services.append(svc)
        svc.start(wait_ready=False)
        lines = svc.wait_log(lambda ls: any("listening on" in l for l in ls))
        line = next(l for l in lines if "listening on" in l)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+) with 2 worker\(s\)$", line)
        self.assertIsNotNone(m, line)
        svc.port = int(m.group(1))
        self.assertNotEqual(svc.port, 0)
        svc.wait_ready()
        self.assertEqual(svc.get("/healthz")[2], b'{"status":"ok"}')


if __name__ == "__main__":
    unittest.main()
