"""
test_listeners.py - the demo TCP and UDP listeners, driven by real clients
(sockets and netcat): greeting and echo modes, a custom greeting, a silent
client that must not block others, --no-listeners, and the listener
counters of /metrics matched against the exact traffic.
"""
import os
import shutil
import socket
import subprocess
import threading
import time
import unittest

import harness
from harness import HOST, ServiceTestCase, scaled

GREETING = b"Hello from server"


def tcp_exchange(port, data, timeout=5):
    """Connects, sends data, returns everything received until EOF."""
    with socket.create_connection((HOST, port), timeout=scaled(timeout)) as s:
        if data:
            s.sendall(data)
        return harness.recv_until_eof(s, scaled(timeout))


def udp_exchange(port, data, timeout=5):
    """Sends one datagram from a connected socket; returns the reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(scaled(timeout))
        u.connect((HOST, port))
        u.send(data)
        return u.recv(65536)


class GreetingTests(ServiceTestCase):

    @classmethod
    def setUpClass(cls):
        cls.svc = cls.start_class_service()

    def test_tcp_greeting(self):
        self.assertEqual(tcp_exchange(self.svc.tcp_port, b"Hello from client"), GREETING)

    def test_tcp_greeting_to_many_clients(self):
        for i in range(20):
            self.assertEqual(tcp_exchange(self.svc.tcp_port, b"client %d" % i), GREETING)

    def test_tcp_greeting_after_client_eof(self):
        # A client that only half-closes still gets the greeting.
        with socket.create_connection((HOST, self.svc.tcp_port), timeout=scaled(5)) as s:
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(harness.recv_until_eof(s, scaled(5)), GREETING)

    def test_udp_greeting(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(scaled(5))
            u.sendto(b"Hello from client", (HOST, self.svc.udp_port))
            data, addr = u.recvfrom(65536)
        self.assertEqual(data, GREETING)
        self.assertEqual(addr, (HOST, self.svc.udp_port))

    def test_netcat(self):
        nc = shutil.which("nc")
        if nc is None:
            self.fail("nc not found (Debian package netcat-openbsd)")
        r = subprocess.run(["sh", "-c", "printf hi | nc -q1 %s %d" % (HOST, self.svc.tcp_port)],
                           capture_output=True, timeout=scaled(10))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, GREETING)

    def test_silent_client_does_not_block_others(self):
        silent = [socket.create_connection((HOST, self.svc.tcp_port), timeout=scaled(5))
                  for _ in range(10)]
        try:
            t0 = time.monotonic()
            for i in range(5):
                self.assertEqual(tcp_exchange(self.svc.tcp_port, b"hi %d" % i), GREETING)
            self.assertLess(time.monotonic() - t0, scaled(2.0))
            # The silent ones got nothing meanwhile.
            for s in silent:
                s.setblocking(False)
                with self.assertRaises(BlockingIOError):
                    s.recv(1)
        finally:
            for s in silent:
                s.close()


class ModeTests(ServiceTestCase):

    def test_custom_greeting(self):
        greeting = "Howdy, probe! \u00e9"
        svc = self.start_service(["--greeting", greeting])
        want = greeting.encode("utf-8")
        self.assertEqual(tcp_exchange(svc.tcp_port, b"Hello from client"), want)
        self.assertEqual(udp_exchange(svc.udp_port, b"x"), want)

    def test_tcp_echo_100k(self):
        svc = self.start_service(["--listener-mode", "echo"], workers=1)
        data = os.urandom(100 * 1024)
        got = bytearray()
        with socket.create_connection((HOST, svc.tcp_port), timeout=scaled(10)) as s:
            # Send and receive at once: 100 KB is more than the echo buffer.
            sender = threading.Thread(target=s.sendall, args=(data,), daemon=True)
            sender.start()
            deadline = time.monotonic() + scaled(10)
            while len(got) < len(data) and time.monotonic() < deadline:
                b = s.recv(65536)
                if not b:
                    break
                got += b
            sender.join(scaled(10))
            self.assertFalse(sender.is_alive())
            self.assertEqual(len(got), len(data))
            self.assertEqual(bytes(got), data)
            # RFC 862: the echo ends when the client's stream does.
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(harness.recv_until_eof(s, scaled(5)), b"")
        self.assertEqual(svc.metric("netprobe_listener_received_bytes_total", proto="tcp"),
                         float(len(data)))
        self.assertEqual(svc.metric("netprobe_listener_sent_bytes_total", proto="tcp"),
                         float(len(data)))

    def test_udp_echo(self):
        svc = self.start_service(["--listener-mode", "echo"])
        for payload in (b"ping", bytes(range(256)), os.urandom(60000)):
            self.assertEqual(udp_exchange(svc.udp_port, payload), payload)

    def test_idle_client_is_disconnected(self):
        svc = self.start_service(["--listener-idle-ms", "300"])
        with socket.create_connection((HOST, svc.tcp_port), timeout=scaled(5)) as s:
            t0 = time.monotonic()
            self.assertEqual(harness.recv_until_eof(s, scaled(5)), b"")
            waited = time.monotonic() - t0
        self.assertGreaterEqual(waited, 0.25)
        self.assertLess(waited, scaled(3.0))

    def test_no_listeners(self):
        svc = self.start_service(["--no-listeners"])
        self.assertEqual(svc.get("/healthz")[0], 200)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((HOST, svc.tcp_port), timeout=scaled(5)).close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(scaled(5))
            u.connect((HOST, svc.udp_port))
            u.send(b"anyone?")
            with self.assertRaises(ConnectionRefusedError):  # ICMP port unreachable
                u.recv(65536)
        self.assertFalse(any("demo listeners" in l for l in svc.log_lines()))
        self.assertEqual(svc.metric("netprobe_listener_connections_total", proto="tcp"), 0.0)


class ListenerMetricsTests(ServiceTestCase):

    def test_counters_match_the_traffic(self):
        svc = self.start_service()
        tcp_payloads = [b"Hello from client", b"x" * 1000, b"\n", b"abc"]
        udp_payloads = [b"one", b"datagram two", b"\x00" * 500]
        for p in tcp_payloads:
            self.assertEqual(tcp_exchange(svc.tcp_port, p), GREETING)
        for p in udp_payloads:
            self.assertEqual(udp_exchange(svc.udp_port, p), GREETING)
        want = {
            ("netprobe_listener_connections_total", "tcp"): len(tcp_payloads),
            ("netprobe_listener_connections_total", "udp"): len(udp_payloads),
            ("netprobe_listener_received_bytes_total", "tcp"): sum(map(len, tcp_payloads)),
            ("netprobe_listener_received_bytes_total", "udp"): sum(map(len, udp_payloads)),
            ("netprobe_listener_sent_bytes_total", "tcp"): len(GREETING) * len(tcp_payloads),
            ("netprobe_listener_sent_bytes_total", "udp"): len(GREETING) * len(udp_payloads),
        }
        # The server may close its side a moment after our EOF: wait for the
        # open-connection gauge to settle, then compare every counter.
        svc.wait_metric("netprobe_listener_open_connections", lambda v: v == 0)
        m = svc.metrics()
        got = {(name, proto): m.get((name, frozenset({("proto", proto)})))
               for name, proto in want}
        self.assertEqual(got, {k: float(v) for k, v in want.items()})
        self.assertEqual(m[("netprobe_listener_open_connections", frozenset())], 0.0)


if __name__ == "__main__":
    unittest.main()
