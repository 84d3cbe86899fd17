"""
harness.py - run the real netprobe binary on loopback and talk to it.

Every integration test module imports this. It knows where the binary is
(NETPROBE_BIN, set by ctest; build/netprobe otherwise), starts it on
127.0.0.1 with free ports, waits for /readyz, captures its log, offers small
HTTP helpers, and always stops what it started, by PID, with a time bound on
every wait. Under ASan (NETPROBE_SANITIZED=1) every time bound is tripled.

Python standard library only.
"""
import atexit
import http.client
import http.server
import json as jsonlib
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

SANITIZED = os.environ.get("NETPROBE_SANITIZED") == "1"
# Factor applied to every time bound: ASan and UBSan make the service slower.
SCALE = 3 if SANITIZED else 1

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("NETPROBE_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("NETPROBE_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
BIN = os.environ.get("NETPROBE_BIN") or os.path.join(BUILD_DIR, "netprobe")

HOST = "127.0.0.1"


def scaled(seconds):
    """A time bound in seconds, stretched under sanitizers."""
    return seconds * SCALE


def project_version():
    """The version in CMakeLists.txt's project() line, e.g. "0.1.0"."""
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"project\(\s*netprobe\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)", f.read())
    if m is None:
        raise RuntimeError("no project(netprobe VERSION x.y.z) in CMakeLists.txt")
    return m.group(1)


def read_source(relpath):
    """Bytes of a file of the source tree, e.g. read_source("openapi.yaml")."""
    with open(os.path.join(SOURCE_DIR, relpath), "rb") as f:
        return f.read()


# ---- ports ----

def free_port():
    """A port free on 127.0.0.1 for both TCP and UDP at the time of the call.

    The kernel picks a TCP port; it is kept only if UDP can bind it too.
    Both sockets are closed before returning, so there is a small window in
    which another process could take it: callers start the service right
    away, and the service fails loudly if it lost the race.
    """
    for _ in range(100):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            tcp.bind((HOST, 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind((HOST, port))
            except OSError:
                continue
            return port
        finally:
            tcp.close()
            udp.close()
    raise RuntimeError("no port free for both TCP and UDP after 100 tries")


def wait_port_closed(port, timeout):
    """True once a TCP connect to 127.0.0.1:port is refused, within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                pass
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


# ---- HTTP ----

class Headers(dict):
    """Response headers: a dict with case-insensitive keys.

    Repeated headers are joined with ", " (RFC 9110 5.3); all() keeps them
    apart.
    """

    def __init__(self, pairs=()):
        super().__init__()
        self._all = []
        for k, v in pairs:
            self._all.append((k, v))
            key = k.lower()
            if dict.__contains__(self, key):
                dict.__setitem__(self, key, dict.__getitem__(self, key) + ", " + v)
            else:
                dict.__setitem__(self, key, v)

    def __getitem__(self, k):
        return dict.__getitem__(self, k.lower())

    def __contains__(self, k):
        return dict.__contains__(self, k.lower())

    def get(self, k, default=None):
        return dict.get(self, k.lower(), default)

    def all(self, k):
        """Every value of header k, in order."""
        return [v for name, v in self._all if name.lower() == k.lower()]


def parse_raw_response(data):
    """Splits one raw HTTP/1.1 response (bytes) into (status, Headers, body).

    The body is whatever follows the header block (Content-Length is not
    applied; chunked bodies are not decoded).
    """
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no end of headers in %r" % data[:200])
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if m is None:
        raise ValueError("bad status line %r" % lines[0])
    pairs = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        pairs.append((name.strip(), value.strip()))
    return int(m.group(1)), Headers(pairs), body


def recv_until_eof(sock, timeout, limit=1 << 24):
    """Reads from sock until the peer closes or timeout passes; returns bytes."""
    deadline = time.monotonic() + timeout
    chunks = []
    total = 0
    while total < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no EOF within %.1f s (got %d bytes)" % (timeout, total))
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
        total += len(b)
    return b"".join(chunks)


def raise_nofile(want):
    """Raises this process's open-file soft limit to at least want (bounded by
    the hard limit); returns the new soft limit. Children inherit it."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(max(soft, want), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class RawRequests:
    """n identical HTTP/1.1 requests held open at once on raw sockets.

    Each socket sends "METHOD path" with Connection: close right away;
    collect() then reads every answer to EOF with one selector, so a
    thousand requests need no thread each.
    """

    def __init__(self, port, path, n, method="GET", timeout=10):
        import selectors
        self.selectors = selectors
        self.socks = []
        self.sent_at = []
        req = ("%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
               % (method, path, HOST, port)).encode()
        try:
            for _ in range(n):
                # Taken before connecting, so that "seconds to answer" can
                # only overstate the server's time, never understate it.
                t = time.monotonic()
                s = socket.create_connection((HOST, port), timeout=scaled(timeout))
                self.socks.append(s)
                self.sent_at.append(t)
                s.sendall(req)
        except BaseException:
            self.close()
            raise

    def collect(self, timeout):
        """Reads every answer to EOF -> list of (status, Headers, body, seconds
        from sending to EOF), in socket order. Fails if any is not complete
        within timeout."""
        sel = self.selectors.DefaultSelector()
        bufs = [bytearray() for _ in self.socks]
        done_at = [None] * len(self.socks)
        for i, s in enumerate(self.socks):
            s.setblocking(False)
            sel.register(s, self.selectors.EVENT_READ, i)
        left = len(self.socks)
        deadline = time.monotonic() + timeout
        try:
            while left:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise AssertionError("%d of %d answers incomplete after %.1f s"
                                         % (left, len(self.socks), timeout))
                for key, _ in sel.select(wait):
                    i = key.data
                    try:
                        b = key.fileobj.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionResetError:
                        b = b""
                    if b:
                        bufs[i] += b
                        continue
                    done_at[i] = time.monotonic()
                    sel.unregister(key.fileobj)
                    left -= 1
        finally:
            sel.close()
        out = []
        for i, data in enumerate(bufs):
            status, headers, body = parse_raw_response(bytes(data))
            out.append((status, headers, body, done_at[i] - self.sent_at[i]))
        return out

    def close(self):
        for s in self.socks:
            s.close()
        self.socks = []


def parse_metrics(text):
    """Prometheus text exposition -> {(name, frozenset(labels)): float}.

    Labels are (key, value) pairs; values may not contain escaped quotes,
    which netprobe never emits.
    """
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$', line)
        if m is None:
            raise ValueError("bad metrics line %r" % line)
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


# ---- TLS material ----

def make_tls_material(directory):
    """Makes a self-signed CA and a server certificate for localhost,
    127.0.0.1 and ::1, signed by it, with the openssl CLI. Returns a dict of
    paths: ca_cert, ca_key, cert, key (PEM)."""
    p = {k: os.path.join(directory, v) for k, v in (
        ("ca_cert", "ca.pem"), ("ca_key", "ca.key"), ("cert", "server.pem"),
        ("key", "server.key"), ("csr", "server.csr"), ("ext", "server.ext"))}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(args):
        r = subprocess.run(["openssl"] + args, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.decode(errors="replace")))

    run(["req", "-x509"] + ec + ["-keyout", p["ca_key"], "-out", p["ca_cert"], "-days", "2",
                                  "-subj", "/CN=netprobe test CA",
                                  "-addext", "basicConstraints=critical,CA:TRUE",
                                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["req"] + ec + ["-keyout", p["key"], "-out", p["csr"], "-subj", "/CN=localhost"])
    with open(p["ext"], "w", encoding="ascii") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    run(["x509", "-req", "-in", p["csr"], "-CA", p["ca_cert"], "-CAkey", p["ca_key"],
         "-CAcreateserial", "-out", p["cert"], "-days", "2", "-extfile", p["ext"]])
    return p


# ---- running the binary ----

def clean_env(extra=None):
    """The environment for netprobe: ours without any NETPROBE_* variable
    (a developer's shell must not change what a test sees), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPROBE_")}
    env.update(extra or {})
    return env


def run_netprobe(args, env=None, timeout=10):
    """Runs netprobe to completion (for --help, --version and bad flags).
    Returns subprocess.CompletedProcess with text stdout/stderr. A run that
    does not end within the (scaled) timeout is killed and reported."""
    try:
        return subprocess.run([BIN] + list(args), env=clean_env(env), capture_output=True,
                              text=True, timeout=scaled(timeout), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("netprobe %s did not exit within %ss; stderr: %s"
                             % (" ".join(args), scaled(timeout), e.stderr)) from None


_live = set()


def _kill_leftovers():
    for svc in list(_live):
        svc.kill()


atexit.register(_kill_leftovers)


def _flag_names(args):
    names = set()
    for a in args:
        if a.startswith("--"):
            names.add(a[2:].split("=", 1)[0])
    return names


class Service:
    """One netprobe process on 127.0.0.1.

    Service(args) builds the command line: args, plus --bind 127.0.0.1, a
    free --port, free --listener-tcp-port / --listener-udp-port,
    --dns-server on a free loopback port where nothing answers, and
    --workers 2, each unless args gives that flag. tls=dict from
    make_tls_material() adds --tls-cert/--tls-key and makes the helpers
    speak HTTPS, verified against that CA. env adds environment variables.
    start() runs it and waits for GET /readyz to answer 200.

    stderr (the log) goes to a file; log_lines() reads it.
    """

    def __init__(self, args=(), env=None, workers=2, tls=None, ready_timeout=10):
        args = list(args)
        given = _flag_names(args)
        self.port = free_port()
        self.tcp_port = None
        self.udp_port = None
        defaults = []
        if "bind" not in given:
            defaults += ["--bind", HOST]
        if "port" not in given:
            defaults += ["--port", str(self.port)]
        if "listener-tcp-port" not in given:
            self.tcp_port = free_port()
            defaults += ["--listener-tcp-port", str(self.tcp_port)]
        if "listener-udp-port" not in given:
            self.udp_port = free_port()
            defaults += ["--listener-udp-port", str(self.udp_port)]
        if "dns-server" not in given:
            # Never the machine's resolvers: a port of ours where nothing
            # answers, so a test that resolves by mistake fails fast, on
            # loopback.
            self.dns_port = free_port()
            defaults += ["--dns-server", "%s:%d" % (HOST, self.dns_port)]
        if "workers" not in given and workers is not None:
            defaults += ["--workers", str(workers)]
        self.tls = tls
        if tls is not None:
            defaults += ["--tls-cert", tls["cert"], "--tls-key", tls["key"]]
        self.args = defaults + args
        self.env = env or {}
        self.ready_timeout = scaled(ready_timeout)
        self.proc = None
        self.returncode = None
        self._dir = tempfile.TemporaryDirectory(prefix="netprobe-it-")
        self.log_path = os.path.join(self._dir.name, "stderr.log")
        self.out_path = os.path.join(self._dir.name, "stdout.log")
        self._ssl = None
        if tls is not None:
            self._ssl = ssl.create_default_context(cafile=tls["ca_cert"])

    # -- process --

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, wait_ready=True):
        with open(self.log_path, "ab") as err, open(self.out_path, "ab") as out:
            self.proc = subprocess.Popen([BIN] + self.args, env=clean_env(self.env),
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _live.add(self)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self):
        """Polls GET /readyz until it answers 200; fails with the log's tail."""
        deadline = time.monotonic() + self.ready_timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail("exited with %s before it was ready" % self.proc.returncode)
            try:
                status, _, _ = self.request("GET", "/readyz", timeout=2)
                if status == 200:
                    return
                last = "status %d" % status
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.05)
        self._fail("not ready within %.0f s (last: %s)" % (self.ready_timeout, last))

    def _fail(self, why):
        tail = "\n".join(self.log_lines()[-30:])
        self.kill()
        raise AssertionError("netprobe %s: %s\n--- log tail ---\n%s"
                             % (" ".join(self.args), why, tail))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if self.running():
            os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """Waits for the exit; returns the exit code, or None if it is still running."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        _live.discard(self)
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig and waits up to timeout (scaled) seconds for the exit.
        Returns the exit code (negative: killed by that signal). A process
        still running then is killed with SIGKILL and None is returned.
        Asserts nothing."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        rc = self.wait(scaled(timeout))
        if rc is None:
            self.kill()
        return rc

    def kill(self):
        """SIGKILL if still running (by PID), and reap. Safe to call twice."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        _live.discard(self)

    def close(self):
        self.kill()
        self._dir.cleanup()

    def finish(self):
        """The end of a test: a service still running gets SIGTERM (so that
        LeakSanitizer runs at exit) and must exit 0; the log must hold no
        sanitizer report. Then close(). Returns the problems found, as text."""
        problems = []
        if self.proc is not None:
            if self.running():
                rc = self.stop(timeout=15)
                if rc != 0:
                    problems.append("netprobe exited with %r after SIGTERM" % rc)
            report = self.sanitizer_report()
            if report:
                problems.append("sanitizer report in the service log:\n" + "\n".join(report))
            if problems:
                problems.append("--- log tail ---\n" + "\n".join(self.log_lines()[-20:]))
        self.close()
        return problems

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- log --

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")

    def log_lines(self):
        """The captured stderr, one string per line."""
        try:
            return self.log_text().splitlines()
        except FileNotFoundError:
            return []

    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                         "runtime error:", "WARNING: ThreadSanitizer")

    def sanitizer_report(self):
        """Lines of the log from the first sanitizer report on (30 at most),
        or [] when there is none."""
        lines = self.log_lines()
        for i, line in enumerate(lines):
            if any(m in line for m in self.SANITIZER_MARKERS):
                return lines[i:i + 30]
        return []

    def wait_log(self, predicate, timeout=5):
        """Waits until predicate(lines) is true; returns the lines."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            lines = self.log_lines()
            if predicate(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError("log condition not met within %ss; tail:\n%s"
                                     % (scaled(timeout), "\n".join(lines[-20:])))
            time.sleep(0.05)

    # -- HTTP --

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    def connection(self, timeout=10):
        """A new http.client connection to the service (HTTPS when tls)."""
        if self.tls:
            return http.client.HTTPSConnection(HOST, self.port, timeout=scaled(timeout),
                                               context=self._ssl)
        return http.client.HTTPConnection(HOST, self.port, timeout=scaled(timeout))

    def request(self, method, path, headers=None, body=None, timeout=10):
        """One request on a fresh connection -> (status, Headers, body bytes)."""
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, Headers(resp.getheaders()), data
        finally:
            conn.close()

    def get(self, path, headers=None, timeout=10):
        return self.request("GET", path, headers, None, timeout)

    def post(self, path, body=None, headers=None, timeout=10):
        return self.request("POST", path, headers, body, timeout)

    def json(self, method, path, headers=None, body=None, timeout=10):
        """Like request(), with the body parsed as JSON."""
        status, hdrs, data = self.request(method, path, headers, body, timeout)
        try:
            doc = jsonlib.loads(data)
        except ValueError:
            raise AssertionError("%s %s: status %d, body is not JSON: %r"
                                 % (method, path, status, data[:300])) from None
        return status, hdrs, doc

    def get_json(self, path, headers=None, timeout=10):
        return self.json("GET", path, headers, None, timeout)

    def metrics(self):
        """GET /metrics parsed by parse_metrics()."""
        status, _, data = self.get("/metrics")
        if status != 200:
            raise AssertionError("/metrics answered %d: %r" % (status, data[:300]))
        return parse_metrics(data.decode("utf-8"))

    def metric(self, name, default=None, **labels):
        """One sample of /metrics, by name and exact label set."""
        return self.metrics().get((name, frozenset(labels.items())), default)

    def wait_metric(self, name, predicate, timeout=5, **labels):
        """Polls /metrics until predicate(value) holds; returns the value."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            v = self.metric(name, **labels)
            if v is not None and predicate(v):
                return v
            if time.monotonic() > deadline:
                raise AssertionError("metric %s%s = %r: condition not met within %ss"
                                     % (name, labels, v, scaled(timeout)))
            time.sleep(0.05)


class ServiceTestCase(unittest.TestCase):
    """Base class: start_service() starts a Service that tearDown always
    stops (SIGKILL by PID if a test left it running)."""

    def setUp(self):
        self._services = []

    def tearDown(self):
        problems = []
        for svc in self._services:
            problems += svc.finish()
        self._services = []
        if problems:
            self.fail("\n".join(problems))

    @classmethod
    def start_class_service(cls, args=(), **kw):
        """A Service shared by the tests of a class (from setUpClass),
        finished like the per-test ones when the class is done."""
        svc = Service(args, **kw)

        def finish():
            problems = svc.finish()
            if problems:
                raise AssertionError("\n".join(problems))

        cls.addClassCleanup(finish)
        return svc.start()

    def start_service(self, args=(), **kw):
        svc = Service(args, **kw)
        self._services.append(svc)
        return svc.start()

    def assertProblem(self, answer, expect_status, instance, detail=None, param=None):
        """Checks an RFC 9457 problem answer, (status, Headers, parsed doc) as
        json() returns it, field by field: exact type, title, status,
        instance, request_id (= the X-Request-Id header), detail when given,
        parameter exactly when param is given, and no other field."""
        status, headers, doc = answer
        slug = {400: "invalid-parameter", 401: "unauthorized", 403: "target-denied",
                404: "not-found", 405: "method-not-allowed", 413: "body-too-large",
                429: "rate-limited", 503: "unavailable",
                504: "deadline-exceeded"}[expect_status]
        title = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                 404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large",
                 429: "Too Many Requests", 503: "Service Unavailable",
                 504: "Gateway Timeout"}[expect_status]
        self.assertEqual(status, expect_status)
        self.assertEqual(headers.get("Content-Type"), "application/problem+json")
        self.assertEqual(doc["type"], "https://netprobe.dev/problems/" + slug)
        self.assertEqual(doc["title"], title)
        self.assertEqual(doc["status"], expect_status)
        self.assertEqual(doc["instance"], instance)
        self.assertIsInstance(doc["detail"], str)
        self.assertTrue(doc["detail"])
        if detail is not None:
            self.assertEqual(doc["detail"], detail)
        self.assertEqual(doc["request_id"], headers.get("X-Request-Id"))
        keys = {"type", "title", "status", "detail", "instance", "request_id"}
        if param is not None:
            keys.add("parameter")
            self.assertEqual(doc["parameter"], param)
        self.assertEqual(set(doc), keys)


class WebPage:
    """A plain-HTTP page on 127.0.0.1 (port picked by the kernel) serving one
    body to every GET, and recording each request's Host header: what a
    client fetched through a name netprobe resolved. start() / stop()."""

    def __init__(self, body):
        self.body = body
        self.hosts = []
        page = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                page.hosts.append(self.headers.get("Host"))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(page.body)))
                self.end_headers()
                self.wfile.write(page.body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
