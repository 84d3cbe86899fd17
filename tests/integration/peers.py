"""
peers.py - loopback peers the probe tests (test_fetch, test_rawx,
test_scan) connect to: a threaded TCP server running a handler per
connection, ports held so that they refuse, and reading a connection to
its end. Everything binds 127.0.0.1 or ::1 only, on ports the kernel picks,
and every wait is bounded (tripled under NETPROBE_SANITIZED=1).
"""
import socket
import threading
import time

from harness import HOST, scaled


def family(host):
    """The address family of a host literal."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ms(seconds):
    """A timeout_ms-style value: seconds, scaled, as integer milliseconds."""
    return int(round(scaled(seconds) * 1000))


def read_until_eof(conn, limit=1 << 22):
    """Everything conn receives until EOF, a reset or its timeout."""
    chunks = []
    total = 0
    while total < limit:
        try:
            b = conn.recv(65536)
        except (ConnectionResetError, socket.timeout, OSError):
            break
        if not b:
            break
        chunks.append(b)
        total += len(b)
    return b"".join(chunks)


def refused_tcp_port(test, host=HOST):
    """A TCP port on host that refuses connections, held for the test: a
    socket bound there that never listens (the kernel answers RST)."""
    s = socket.socket(family(host), socket.SOCK_STREAM)
    if ":" in host:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, 0))
    test.addCleanup(s.close)
    return s.getsockname()[1]


class TcpPeer:
    """A TCP server on host (127.0.0.1 unless told), port picked by the
    kernel, running handler(conn) in a thread per connection; each
    connection's socket times out after conn_timeout seconds (scaled).
    handler's return value (or the OSError it raised) is recorded in
    `results`, in order of completion. stop() shuts every connection down
    and joins the threads, with a time bound."""

    def __init__(self, handler, host=HOST, conn_timeout=5):
        self.handler = handler
        self.host = host
        self.conn_timeout = conn_timeout
        self.sock = socket.socket(family(host), socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(32)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.results = []
        self.conns = []
        self.threads = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(scaled(self.conn_timeout))
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
                self.threads.append(t)
            t.start()

    def _serve(self, conn):
        result = None
        try:
            result = self.handler(conn)
        except OSError as e:
            result = e
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self.lock:
                self.results.append(result)

    def wait_connections(self, n, timeout=5):
        """Waits until n connections were accepted."""
        deadline = time.monotonic() + scaled(timeout)
        while self.accepted < n:
            if time.monotonic() > deadline:
                raise AssertionError("%d of %d connections within %ss"
                                     % (self.accepted, n, scaled(timeout)))
            time.sleep(0.01)

    def wait_results(self, n, timeout=5):
        """Waits until n connections were handled; returns the results."""
        deadline = time.monotonic() + scaled(timeout)
        while len(self.results) < n:
            if time.monotonic() > deadline:
                raise AssertionError("%d of %d connections handled within %ss"
                                     % (len(self.results), n, scaled(timeout)))
            time.sleep(0.01)
        return list(self.results)

    def stop(self):
        self.stopping.set()
        self.sock.close()
        self.thread.join(scaled(5))
        with self.lock:
            conns, threads = list(self.conns), list(self.threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(scaled(5))
