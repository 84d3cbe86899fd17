"""
test_rawx.py - POST /tcp and POST /udp, the raw TCP / UDP exchange, against
real peers on loopback: the service's own demo listeners (greeting and echo
modes), small Python servers these tests start (an HTTP server, a banner
that stays silent, a flood, a peer that resets, a UDP peer answering three
datagrams, a silent UDP socket) and NSD (dnsfixture.py) for host names.

Checked, field by field against the spec: the answer's shape (target echo,
address, family, status, sent, received / datagrams, ended_by, timing with
microsecond precision and in order), text vs base64 encoding of what came
back (JSON escapes, invalid UTF-8, a character cut by max_bytes), data and
data_base64 (with and without padding), half_close, max_bytes, idle_ms, the
whole-exchange timeout while connected, refused ports (TCP and UDP), a peer
that resets, max_datagrams and truncated datagrams, empty datagrams, IPv6
(bare and [bracketed]), /etc/hosts and DNS names (not_found, every address
judged by the target policy), every 400 with the parameter it names, the
403 of the default policy, --auth-token, --rate-limit, the probe metrics,
slow probes that must not block the worker's loop, and a service that still
answers /healthz and exits 0 on SIGTERM afterwards.

Traffic goes only to 127.0.0.0/8 / ::1 and to ports these tests opened
(the services' own listeners, or sockets bound here; a "refused" port is a
socket of ours bound but not listening). Only processes these tests start
are stopped, by PID. Every wait is time-bounded (tripled under
NETPROBE_SANITIZED=1).
"""
import base64
import json
import socket
import struct
import threading
import time
import unittest

import dnsfixture
import harness
from harness import HOST, SCALE, ServiceTestCase, scaled
from peers import TcpPeer, ms, read_until_eof, refused_tcp_port

GREETING = "Hello from server"
JSON_HEADERS = {"Content-Type": "application/json"}

TCP_KEYS = {"target", "address", "family", "status", "sent", "received", "ended_by", "timing"}
UDP_KEYS = {"target", "address", "family", "status", "sent", "datagrams", "ended_by", "timing"}
RECEIVED_KEYS = {"bytes", "encoding", "data", "truncated"}
DATAGRAM_KEYS = RECEIVED_KEYS | {"rtt_ms"}
TCP_TIMING = {"resolve_ms", "connect_ms", "first_byte_ms", "total_ms"}
UDP_TIMING = {"resolve_ms", "first_byte_ms", "total_ms"}

V6 = dnsfixture.ipv6_loopback_works()


def expect_received(raw, truncated=False):
    """What the spec says `received` (or one datagram without rtt_ms) is
    for these bytes: text when they are valid UTF-8, else padded base64."""
    try:
        return {"bytes": len(raw), "encoding": "text", "data": raw.decode("utf-8"),
                "truncated": truncated}
    except UnicodeDecodeError:
        return {"bytes": len(raw), "encoding": "base64",
                "data": base64.b64encode(raw).decode("ascii"), "truncated": truncated}


# ---- peers ----

def read_exactly(conn, n):
    """n bytes from conn (fewer if it closes or times out first)."""
    got = b""
    while len(got) < n:
        try:
            b = conn.recv(n - len(got))
        except (ConnectionResetError, socket.timeout, OSError):
            break
        if not b:
            break
        got += b
    return got


def reset(conn):
    """Closes conn with an RST (SO_LINGER 0)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class UdpPeer:
    """A UDP socket on host (127.0.0.1 unless told) answering each datagram
    with replies(data) (a list of datagrams), in a thread; every datagram
    received is recorded in `received`. stop() joins with a time bound."""

    def __init__(self, replies, host=HOST):
        self.replies = replies
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _serve(self):
        while not self.stopping.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.received.append(data)
            for r in self.replies(data):
                try:
                    self.sock.sendto(r, addr)
                except OSError:
                    pass

    def stop(self):
        self.stopping.set()
        self.thread.join(scaled(5))
        self.sock.close()


FLOOD = b"0123456789" * 1000            # 10000 bytes of text


def h_banner(conn):
    """Sends a banner, then stays silent until the client closes."""
    conn.sendall(b"banner\r\n")
    return read_until_eof(conn)


def h_flood(conn):
    """Sends 10000 bytes, then keeps the connection open until the client closes."""
    conn.sendall(FLOOD)
    return read_until_eof(conn)


def h_send_and_close(payload):
    def handler(conn):
        conn.sendall(payload)
        return b""
    return handler


def h_answer_after_eof(conn):
    """Reads until the client's EOF, then answers with what it got and closes
    (a server for half_close)."""
    got = read_until_eof(conn)
    conn.sendall(b"got %d bytes" % len(got))
    return got


def h_reset_after(n, partial=b""):
    """Reads n bytes, sends partial (if any, then waits 300 ms so the client
    reads it), then resets the connection."""
    def handler(conn):
        got = read_exactly(conn, n)
        if partial:
            conn.sendall(partial)
            time.sleep(scaled(0.3))
        reset(conn)
        return got
    return handler


def held_refused_udp_port(test):
    """A UDP port on 127.0.0.1 that refuses datagrams, held for the test: a
    socket bound there and connected to itself takes only its own, so the
    kernel answers others with ICMP port unreachable."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.connect(s.getsockname())
    test.addCleanup(s.close)
    return s.getsockname()[1]


# ---- assertions ----

class RawxCase(ServiceTestCase):
    """Helpers for POST /tcp and /udp; `svc` is the class's service."""

    svc = None

    @classmethod
    def shared(cls, args=(), **kw):
        """The class's service; at the end of the class it must still answer
        /healthz (then the harness sends SIGTERM and wants exit 0)."""
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

    def post(self, path, body, svc=None, headers=None, timeout=15):
        """POST path with body (a dict is sent as JSON) -> (status, Headers, doc)."""
        svc = svc or self.svc
        hdrs = dict(JSON_HEADERS)
        hdrs.update(headers or {})
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return svc.json("POST", path, headers=hdrs, body=data, timeout=timeout)

    def probe(self, path, body, svc=None, headers=None, timeout=15):
        status, hdrs, doc = self.post(path, body, svc, headers, timeout)
        self.assertEqual(status, 200, doc)
        self.assertEqual(hdrs["Content-Type"], "application/json")
        return doc

    def tcp(self, svc=None, **body):
        return self.probe("/tcp", body, svc)

    def udp(self, svc=None, **body):
        return self.probe("/udp", body, svc)

    def assertMs(self, v, what):
        self.assertIsInstance(v, (int, float), what)
        self.assertNotIsInstance(v, bool, what)
        self.assertGreaterEqual(v, 0, what)
        # Milliseconds with microsecond precision: at most 3 decimals.
        self.assertAlmostEqual(v * 1000, round(v * 1000), delta=1e-3,
                               msg="%s = %r has more than 3 decimals" % (what, v))

    def assertError(self, doc, code):
        self.assertEqual(doc["status"], "error", doc)
        self.assertEqual(set(doc["error"]), {"code", "message"}, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertIsInstance(doc["error"]["message"], str)
        self.assertTrue(doc["error"]["message"])

    def assertCommon(self, doc, keys, timing_keys, status, code, host, port, address, family):
        if status == "error":
            keys = keys | {"error"}
        if address is None:
            keys = keys - {"address", "family"}
        self.assertEqual(set(doc), keys, doc)
        self.assertEqual(doc["target"], {"host": host, "port": port})
        if address is not None:
            self.assertEqual(doc["address"], address, doc)
            self.assertEqual(doc["family"], family, doc)
        if status == "ok":
            self.assertEqual(doc["status"], "ok", doc)
        else:
            self.assertError(doc, code)
        self.assertEqual(set(doc["sent"]), {"bytes"})
        self.assertIsInstance(doc["sent"]["bytes"], int)
        t = doc["timing"]
        self.assertLessEqual(set(t), timing_keys, t)
        self.assertLessEqual({"resolve_ms", "total_ms"}, set(t), t)
        for k, v in t.items():
            self.assertMs(v, "timing." + k)
        order = [t[k] for k in ("resolve_ms", "connect_ms", "first_byte_ms", "total_ms")
                 if k in t]
        self.assertEqual(order, sorted(order), t)

    def assertTcp(self, doc, status="ok", code=None, host=HOST, port=None,
                  address=HOST, family="ipv4"):
        """The /tcp answer's shape; returns (received, timing)."""
        self.assertCommon(doc, TCP_KEYS, TCP_TIMING, status, code, host, port, address, family)
        r = doc["received"]
        self.assertEqual(set(r), RECEIVED_KEYS, r)
        self.assertIn(doc["ended_by"], ("close", "max_bytes", "idle", "timeout", "reset",
                                        "error"))
        if r["bytes"] > 0:
            self.assertIn("first_byte_ms", doc["timing"])
        else:
            self.assertEqual(r, {"bytes": 0, "encoding": "text", "data": "",
                                 "truncated": False})
            self.assertNotIn("first_byte_ms", doc["timing"])
        return r, doc["timing"]

    def assertFailedBeforeConnecting(self, doc, code, port, host=HOST, address=HOST,
                                     family="ipv4"):
        self.assertTcp(doc, "error", code, host=host, port=port, address=address,
                       family=family)
        self.assertEqual(doc["ended_by"], "error")
        self.assertEqual(doc["sent"], {"bytes": 0})
        self.assertEqual(doc["received"], expect_received(b""))
        self.assertNotIn("first_byte_ms", doc["timing"])

    def assertUdp(self, doc, status="ok", code=None, host=HOST, port=None,
                  address=HOST, family="ipv4"):
        """The /udp answer's shape; returns (datagrams without rtt_ms, timing)."""
        self.assertCommon(doc, UDP_KEYS, UDP_TIMING, status, code, host, port, address, family)
        t = doc["timing"]
        self.assertNotIn("connect_ms", t)
        grams = doc["datagrams"]
        self.assertIsInstance(grams, list)
        if grams:
            self.assertIn("first_byte_ms", t)
        else:
            self.assertNotIn("first_byte_ms", t)
        last = 0
        for i, g in enumerate(grams):
            self.assertEqual(set(g), DATAGRAM_KEYS, g)
            self.assertMs(g["rtt_ms"], "datagrams[%d].rtt_ms" % i)
            self.assertGreater(g["rtt_ms"], 0)
            self.assertGreaterEqual(g["rtt_ms"], last, "datagrams not in arrival order")
            last = g["rtt_ms"]
            self.assertLessEqual(g["rtt_ms"], t["total_ms"] + 0.002)
        if grams:
            self.assertLessEqual(grams[0]["rtt_ms"], t["first_byte_ms"] + 0.002)
        return [{k: v for k, v in g.items() if k != "rtt_ms"} for g in grams], t


# ---- /tcp against the demo listener, real servers and refused ports ----

class TcpTests(RawxCase):

    @classmethod
    def setUpClass(cls):
        cls.svc = cls.shared()

    def peer(self, handler, host=HOST):
        p = TcpPeer(handler, host).start()
        self.addCleanup(p.stop)
        return p

    def test_listener_greeting(self):
        port = self.svc.tcp_port
        doc = self.tcp(host="127.0.0.1", port=port, data="Hello from client")
        r, t = self.assertTcp(doc, port=port)
        self.assertEqual(r, {"bytes": 17, "encoding": "text", "data": GREETING,
                             "truncated": False})
        self.assertEqual(doc["ended_by"], "close")
        self.assertEqual(doc["sent"], {"bytes": 17})
        self.assertEqual((doc["address"], doc["family"]), ("127.0.0.1", "ipv4"))
        self.assertEqual(doc["target"], {"host": "127.0.0.1", "port": port})
        self.assertEqual(set(t), TCP_TIMING)
        self.assertEqual(t["resolve_ms"], 0)
        self.assertLessEqual(t["connect_ms"], t["first_byte_ms"])
        self.assertLessEqual(t["first_byte_ms"], t["total_ms"])
        self.assertGreater(t["total_ms"], 0)
        self.assertLess(t["total_ms"], 1000 * SCALE)

    def test_listener_greeting_without_data_after_half_close(self):
        # Neither data nor data_base64: nothing is sent; the listener greets
        # a client that only half-closes.
        port = self.svc.tcp_port
        doc = self.tcp(host=HOST, port=port, half_close=True)
        r, _ = self.assertTcp(doc, port=port)
        self.assertEqual(doc["sent"], {"bytes": 0})
        self.assertEqual(r, expect_received(GREETING.encode()))
        self.assertEqual(doc["ended_by"], "close")

    def test_localhost_from_etc_hosts(self):
        # localhost is in /etc/hosts (127.0.0.1); the test DNS port never
        # answers, so the name is not asked of DNS.
        port = self.svc.tcp_port
        doc = self.tcp(host="localhost", port=port, data="Hello from client")
        self.assertEqual(doc["target"], {"host": "localhost", "port": port})
        self.assertIn(doc["address"], ("127.0.0.1", "::1"), doc)
        if doc["address"] == "::1":
            # The listener is bound to 127.0.0.1 only.
            self.assertFailedBeforeConnecting(doc, "connect_refused", port, host="localhost",
                                              address="::1", family="ipv6")
        else:
            r, t = self.assertTcp(doc, host="localhost", port=port)
            self.assertEqual(r, expect_received(GREETING.encode()))
            self.assertEqual(doc["ended_by"], "close")
            self.assertGreaterEqual(t["resolve_ms"], 0)
            self.assertLessEqual(t["resolve_ms"], t["connect_ms"])

    def test_raw_http_request(self):
        page = harness.WebPage(b"hello from the raw page\n").start()
        self.addCleanup(page.stop)
        doc = self.tcp(host=HOST, port=page.port, data="GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        r, _ = self.assertTcp(doc, port=page.port)
        self.assertEqual(doc["sent"], {"bytes": 27})
        self.assertEqual(doc["ended_by"], "close")
        self.assertEqual(r["encoding"], "text")
        self.assertFalse(r["truncated"])
        self.assertTrue(r["data"].startswith("HTTP/1.0 200 "), r["data"])
        self.assertTrue(r["data"].endswith("\r\n\r\nhello from the raw page\n"), r["data"])
        self.assertIn("\r\nContent-Length: 24\r\n", r["data"])
        self.assertEqual(r["bytes"], len(r["data"].encode()))
        self.assertEqual(page.hosts, ["x"])

    def test_max_bytes(self):
        peer = self.peer(h_flood)
        doc = self.tcp(host=HOST, port=peer.port, max_bytes=100, timeout_ms=ms(5))
        r, t = self.assertTcp(doc, port=peer.port)
        self.assertEqual(r, expect_received(FLOOD[:100], truncated=True))
        self.assertEqual(doc["ended_by"], "max_bytes")
        self.assertEqual(doc["status"], "ok")
        self.assertLess(t["total_ms"], 1000 * SCALE)
        # The service closed the connection: the peer saw its end.
        self.assertEqual(peer.wait_results(1), [b""])

    def test_max_bytes_cutting_a_character_is_base64(self):
        peer = self.peer(h_send_and_close("\u00e9".encode() * 10))
        doc = self.tcp(host=HOST, port=peer.port, max_bytes=3)
        r, _ = self.assertTcp(doc, port=peer.port)
        self.assertEqual(r, {"bytes": 3, "encoding": "base64", "data": "w6nD",
                             "truncated": True})
        self.assertEqual(doc["ended_by"], "max_bytes")

    def test_idle_ends_the_read(self):
        peer = self.peer(h_banner)
        doc = self.tcp(host=HOST, port=peer.port, idle_ms=200, timeout_ms=ms(3))
        r, t = self.assertTcp(doc, port=peer.port)
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(doc["ended_by"], "idle")
        self.assertEqual(r, expect_received(b"banner\r\n"))
        self.assertEqual(doc["sent"], {"bytes": 0})
        self.assertLess(t["total_ms"], 2000 * SCALE)
        # Idle is counted from the last byte (the banner, the only one).
        self.assertGreaterEqual(t["total_ms"] - t["first_byte_ms"], 190)
        # Nothing was sent: the peer read only the service's EOF.
        self.assertEqual(peer.wait_results(1), [b""])

    def test_timeout_while_connected_is_ok(self):
        peer = self.peer(h_banner)
        timeout = ms(0.3)
        doc = self.tcp(host=HOST, port=peer.port, data="hi", timeout_ms=timeout)
        r, t = self.assertTcp(doc, port=peer.port)
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(doc["ended_by"], "timeout")
        self.assertEqual(r, expect_received(b"banner\r\n"))
        self.assertEqual(doc["sent"], {"bytes": 2})
        self.assertGreaterEqual(t["total_ms"], timeout - 10)
        self.assertLess(t["total_ms"], timeout + 1000 * SCALE)
        self.assertEqual(peer.wait_results(1), [b"hi"])

    def test_half_close_for_a_server_reading_to_eof(self):
        peer = self.peer(h_answer_after_eof)
        doc = self.tcp(host=HOST, port=peer.port, data="0123456789", half_close=True,
                       timeout_ms=ms(3))
        r, t = self.assertTcp(doc, port=peer.port)
        self.assertEqual(r, expect_received(b"got 10 bytes"))
        self.assertEqual(doc["ended_by"], "close")
        self.assertEqual(doc["sent"], {"bytes": 10})
        self.assertLess(t["total_ms"], 1000 * SCALE)
        self.assertEqual(peer.wait_results(1), [b"0123456789"])

    def test_without_half_close_that_server_times_out(self):
        peer = self.peer(h_answer_after_eof)
        doc = self.tcp(host=HOST, port=peer.port, data="0123456789", timeout_ms=ms(0.3))
        r, _ = self.assertTcp(doc, port=peer.port)
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(doc["ended_by"], "timeout")
        self.assertEqual(r, expect_received(b""))

    def test_binary_answer_is_base64(self):
        raw = b"\xff\xfe\x00abc"
        peer = self.peer(h_send_and_close(raw))
        doc = self.tcp(host=HOST, port=peer.port)
        r, _ = self.assertTcp(doc, port=peer.port)
        self.assertEqual(r, {"bytes": 6, "encoding": "base64", "data": "//4AYWJj",
                             "truncated": False})
        self.assertEqual(doc["ended_by"], "close")

    def test_text_answer_with_nul_and_non_ascii(self):
        raw = b'a\x00b\xc3\xa9 "q" \\ \t\r\n\x7f'
        peer = self.peer(h_send_and_close(raw))
        doc = self.tcp(host=HOST, port=peer.port)
        r, _ = self.assertTcp(doc, port=peer.port)
        self.assertEqual(r, {"bytes": len(raw), "encoding": "text",
                             "data": 'a\u0000b\u00e9 "q" \\ \t\r\n\x7f', "truncated": False})

    def test_empty_answer(self):
        peer = self.peer(h_send_and_close(b""))
        doc = self.tcp(host=HOST, port=peer.port)
        r, t = self.assertTcp(doc, port=peer.port)
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(doc["ended_by"], "close")
        self.assertEqual(r, {"bytes": 0, "encoding": "text", "data": "", "truncated": False})
        self.assertIn("connect_ms", t)
        self.assertNotIn("first_byte_ms", t)

    def test_refused(self):
        port = refused_tcp_port(self)
        doc = self.tcp(host=HOST, port=port, data="hello", timeout_ms=ms(3))
        self.assertFailedBeforeConnecting(doc, "connect_refused", port)
        self.assertEqual(doc["received"]["bytes"], 0)
        self.assertLess(doc["timing"]["total_ms"], 1000 * SCALE)

    def test_reset_by_peer(self):
        peer = self.peer(h_reset_after(5))
        doc = self.tcp(host=HOST, port=peer.port, data="hello", timeout_ms=ms(3))
        r, t = self.assertTcp(doc, "error", "connection_reset", port=peer.port)
        self.assertEqual(doc["ended_by"], "reset")
        self.assertEqual(doc["sent"], {"bytes": 5})
        self.assertEqual(r, expect_received(b""))
        self.assertIn("connect_ms", t)
        self.assertLess(t["total_ms"], 1000 * SCALE)
        self.assertEqual(peer.wait_results(1), [b"hello"])

    def test_reset_after_some_bytes_keeps_them(self):
        peer = self.peer(h_reset_after(5, partial=b"partial"))
        doc = self.tcp(host=HOST, port=peer.port, data="hello", timeout_ms=ms(3))
        r, _ = self.assertTcp(doc, "error", "connection_reset", port=peer.port)
        self.assertEqual(doc["ended_by"], "reset")
        self.assertEqual(r, expect_received(b"partial"))

    @unittest.skipUnless(V6, "no IPv6 loopback")
    def test_ipv6_bare_and_bracketed(self):
        peer = self.peer(h_send_and_close(b"v6 hello"), host="::1")
        for host in ("::1", "[::1]"):
            with self.subTest(host=host):
                doc = self.tcp(host=host, port=peer.port)
                self.assertIn(doc["target"]["host"], (host, "::1"))
                r, t = self.assertTcp(doc, host=doc["target"]["host"], port=peer.port,
                                      address="::1", family="ipv6")
                self.assertEqual(r, expect_received(b"v6 hello"))
                self.assertEqual(doc["ended_by"], "close")
                self.assertEqual(t["resolve_ms"], 0)


# ---- /tcp against the echo listener: what is sent is what comes back ----

class EchoTests(RawxCase):

    @classmethod
    def setUpClass(cls):
        cls.svc = cls.shared(["--listener-mode", "echo"])

    def test_binary_base64_round_trip(self):
        raw = bytes(range(256))
        port = self.svc.tcp_port
        doc = self.tcp(host=HOST, port=port, data_base64=base64.b64encode(raw).decode(),
                       half_close=True, timeout_ms=ms(3))
        r, _ = self.assertTcp(doc, port=port)
        self.assertEqual(doc["sent"], {"bytes": 256})
        self.assertEqual(r["encoding"], "base64")
        self.assertEqual(base64.b64decode(r["data"], validate=True), raw)
        self.assertEqual(r, expect_received(raw))
        self.assertEqual(doc["ended_by"], "close")

    def test_text_with_json_escapes_round_trip(self):
        text = 'caf\u00e9 "quoted" back\\slash\ttab\r\n\u0001 \u20ac'
        port = self.svc.tcp_port
        doc = self.tcp(host=HOST, port=port, data=text, half_close=True, timeout_ms=ms(3))
        r, _ = self.assertTcp(doc, port=port)
        self.assertEqual(doc["sent"], {"bytes": len(text.encode("utf-8"))})
        self.assertEqual(r, expect_received(text.encode("utf-8")))
        self.assertEqual(doc["ended_by"], "close")

    def test_base64_without_padding(self):
        port = self.svc.tcp_port
        for b64, raw in (("aGk", b"hi"), ("aGk=", b"hi"), ("YQ", b"a"), ("YQ==", b"a")):
            with self.subTest(data_base64=b64):
                doc = self.tcp(host=HOST, port=port, data_base64=b64, half_close=True,
                               timeout_ms=ms(3))
                r, _ = self.assertTcp(doc, port=port)
                self.assertEqual(doc["sent"], {"bytes": len(raw)})
                self.assertEqual(r, expect_received(raw))

    def test_nothing_sent_nothing_echoed(self):
        port = self.svc.tcp_port
        doc = self.tcp(host=HOST, port=port, half_close=True, timeout_ms=ms(3))
        r, _ = self.assertTcp(doc, port=port)
        self.assertEqual(doc["sent"], {"bytes": 0})
        self.assertEqual(r, {"bytes": 0, "encoding": "text", "data": "", "truncated": False})
        self.assertEqual(doc["ended_by"], "close")

    def test_echo_without_half_close_ends_idle(self):
        port = self.svc.tcp_port
        doc = self.tcp(host=HOST, port=port, data="ping", idle_ms=100, timeout_ms=ms(3))
        r, _ = self.assertTcp(doc, port=port)
        self.assertEqual(doc["ended_by"], "idle")
        self.assertEqual(r, expect_received(b"ping"))

    def test_udp_binary_round_trip(self):
        raw = bytes(range(256))
        port = self.svc.udp_port
        doc = self.udp(host=HOST, port=port, data_base64=base64.b64encode(raw).decode(),
                       timeout_ms=ms(3))
        grams, _ = self.assertUdp(doc, port=port)
        self.assertEqual(doc["sent"], {"bytes": 256})
        self.assertEqual(grams, [expect_received(raw)])
        self.assertEqual(doc["ended_by"], "count")


# ---- /udp ----

class UdpTests(RawxCase):

    @classmethod
    def setUpClass(cls):
        cls.svc = cls.shared()

    def peer(self, replies, host=HOST):
        p = UdpPeer(replies, host).start()
        self.addCleanup(p.stop)
        return p

    def silent_socket(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST, 0))
        self.addCleanup(s.close)
        return s

    def test_listener_greeting(self):
        port = self.svc.udp_port
        doc = self.udp(host="127.0.0.1", port=port, data="Hello from client")
        grams, t = self.assertUdp(doc, port=port)
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(grams, [{"bytes": 17, "encoding": "text", "data": GREETING,
                                  "truncated": False}])
        self.assertEqual(len(doc["datagrams"]), 1)
        self.assertGreater(doc["datagrams"][0]["rtt_ms"], 0)
        self.assertEqual(doc["ended_by"], "count")
        self.assertEqual(doc["sent"], {"bytes": 17})
        self.assertEqual((doc["address"], doc["family"]), ("127.0.0.1", "ipv4"))
        self.assertNotIn("received", doc)
        self.assertNotIn("connect_ms", t)
        self.assertEqual(set(t), UDP_TIMING)
        self.assertEqual(t["resolve_ms"], 0)
        self.assertLess(t["total_ms"], 1000 * SCALE)

    def test_localhost(self):
        port = self.svc.udp_port
        doc = self.udp(host="localhost", port=port, data="x")
        self.assertEqual(doc["target"], {"host": "localhost", "port": port})
        if doc["address"] == "::1":
            self.assertUdp(doc, "error", "connect_refused", host="localhost", port=port,
                           address="::1", family="ipv6")
        else:
            grams, _ = self.assertUdp(doc, host="localhost", port=port)
            self.assertEqual(grams, [expect_received(GREETING.encode())])

    def test_three_answers(self):
        peer = self.peer(lambda data: [b"a", b"b", b"c"])
        doc = self.udp(host=HOST, port=peer.port, data="q", max_datagrams=3, timeout_ms=ms(3))
        grams, _ = self.assertUdp(doc, port=peer.port)
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(grams, [expect_received(b) for b in (b"a", b"b", b"c")])
        self.assertEqual(doc["ended_by"], "count")
        self.assertLess(doc["timing"]["total_ms"], 1000 * SCALE)
        self.assertEqual(peer.received, [b"q"])

    def test_fewer_answers_than_asked_is_timeout_ok(self):
        peer = self.peer(lambda data: [b"a", b"b", b"c"])
        timeout = ms(0.3)
        doc = self.udp(host=HOST, port=peer.port, data="q", max_datagrams=5, timeout_ms=timeout)
        grams, t = self.assertUdp(doc, port=peer.port)
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(grams, [expect_received(b) for b in (b"a", b"b", b"c")])
        self.assertEqual(doc["ended_by"], "timeout")
        self.assertGreaterEqual(t["total_ms"], timeout - 10)

    def test_default_is_one_datagram(self):
        peer = self.peer(lambda data: [b"a", b"b", b"c"])
        doc = self.udp(host=HOST, port=peer.port, data="q", timeout_ms=ms(3))
        grams, _ = self.assertUdp(doc, port=peer.port)
        self.assertEqual(grams, [expect_received(b"a")])
        self.assertEqual(doc["ended_by"], "count")

    def test_binary_datagram_is_base64(self):
        peer = self.peer(lambda data: [b"\x00\xff" + data])
        doc = self.udp(host=HOST, port=peer.port, data_base64="AQI=", timeout_ms=ms(3))
        grams, _ = self.assertUdp(doc, port=peer.port)
        self.assertEqual(doc["sent"], {"bytes": 2})
        self.assertEqual(grams, [{"bytes": 4, "encoding": "base64", "data": "AP8BAg==",
                                  "truncated": False}])
        self.assertEqual(peer.received, [b"\x01\x02"])

    def test_silent_peer_times_out(self):
        s = self.silent_socket()
        port = s.getsockname()[1]
        timeout = ms(0.2)
        t0 = time.monotonic()
        doc = self.udp(host=HOST, port=port, data="ping", timeout_ms=timeout)
        self.assertLess(time.monotonic() - t0, scaled(2))
        grams, t = self.assertUdp(doc, "error", "timeout", port=port)
        self.assertEqual(grams, [])
        self.assertEqual(doc["datagrams"], [])
        self.assertIn(doc["ended_by"], ("timeout", "error"))
        self.assertEqual(doc["sent"], {"bytes": 4})
        self.assertGreaterEqual(t["total_ms"], timeout - 10)
        self.assertLess(t["total_ms"], timeout + 1000 * SCALE)
        s.settimeout(scaled(2))
        data, addr = s.recvfrom(65536)
        self.assertEqual(data, b"ping")
        self.assertEqual(addr[0], HOST)

    def test_no_data_sends_an_empty_datagram(self):
        s = self.silent_socket()
        port = s.getsockname()[1]
        doc = self.udp(host=HOST, port=port, timeout_ms=ms(0.2))
        self.assertUdp(doc, "error", "timeout", port=port)
        self.assertEqual(doc["sent"], {"bytes": 0})
        s.settimeout(scaled(2))
        data, _ = s.recvfrom(65536)
        self.assertEqual(data, b"")

    def test_refused(self):
        port = held_refused_udp_port(self)
        doc = self.udp(host=HOST, port=port, data="anyone?", timeout_ms=ms(3))
        grams, t = self.assertUdp(doc, "error", "connect_refused", port=port)
        self.assertEqual(grams, [])
        # Ended by the ICMP error, not by the timeout.
        self.assertLess(t["total_ms"], 1000 * SCALE)

    def test_max_bytes_truncates_each_datagram(self):
        port = self.svc.udp_port
        doc = self.udp(host=HOST, port=port, data="Hello from client", max_bytes=4)
        self.assertUdp(doc, port=port)
        self.assertEqual(len(doc["datagrams"]), 1)
        g = doc["datagrams"][0]
        self.assertEqual((g["data"], g["encoding"], g["truncated"]), ("Hell", "text", True))
        # The spec leaves open whether bytes is what was kept (4) or the
        # datagram's size (17).
        self.assertIn(g["bytes"], (4, 17))
        self.assertEqual(doc["ended_by"], "count")

    def test_max_bytes_not_reached_is_not_truncated(self):
        port = self.svc.udp_port
        doc = self.udp(host=HOST, port=port, data="x", max_bytes=17)
        grams, _ = self.assertUdp(doc, port=port)
        self.assertEqual(grams, [expect_received(GREETING.encode())])

    @unittest.skipUnless(V6, "no IPv6 loopback")
    def test_ipv6(self):
        peer = self.peer(lambda data: [b"v6 pong"], host="::1")
        doc = self.udp(host="::1", port=peer.port, data="ping", timeout_ms=ms(3))
        grams, t = self.assertUdp(doc, host="::1", port=peer.port, address="::1",
                                  family="ipv6")
        self.assertEqual(grams, [expect_received(b"v6 pong")])
        self.assertEqual(t["resolve_ms"], 0)


# ---- host names through DNS, and the policy for every address ----

class NameTests(RawxCase):
    """good.np.test is 127.0.0.10 (a server of ours listens there),
    bad.np.test 127.0.0.99 (denied below), nope.np.test has no address."""

    @classmethod
    def setUpClass(cls):
        cls.ns = dnsfixture.NsdServer().start()
        cls.addClassCleanup(cls.ns.stop)
        cls.svc = cls.shared(["--dns-server", cls.ns.address,
                              "--deny-cidr", "127.0.0.99/32"])

    def test_tcp_name_resolved_by_dns(self):
        peer = TcpPeer(h_send_and_close(b"hi from .10"), host="127.0.0.10").start()
        self.addCleanup(peer.stop)
        doc = self.tcp(host="good.np.test", port=peer.port, timeout_ms=ms(3))
        r, t = self.assertTcp(doc, host="good.np.test", port=peer.port, address="127.0.0.10")
        self.assertEqual(r, expect_received(b"hi from .10"))
        self.assertEqual(doc["ended_by"], "close")
        self.assertGreater(t["resolve_ms"], 0)
        self.assertLessEqual(t["resolve_ms"], t["connect_ms"])

    def test_udp_name_resolved_by_dns(self):
        peer = UdpPeer(lambda data: [b"pong from .10"], host="127.0.0.10").start()
        self.addCleanup(peer.stop)
        doc = self.udp(host="good.np.test", port=peer.port, data="ping", timeout_ms=ms(3))
        grams, t = self.assertUdp(doc, host="good.np.test", port=peer.port,
                                  address="127.0.0.10")
        self.assertEqual(grams, [expect_received(b"pong from .10")])
        self.assertGreater(t["resolve_ms"], 0)

    def test_name_without_addresses_is_not_found(self):
        port = refused_tcp_port(self)
        doc = self.tcp(host="nope.np.test", port=port, data="x", timeout_ms=ms(3))
        self.assertFailedBeforeConnecting(doc, "not_found", port, host="nope.np.test",
                                          address=None)
        self.assertNotIn("connect_ms", doc["timing"])
        uport = held_refused_udp_port(self)
        doc = self.udp(host="nope.np.test", port=uport, data="x", timeout_ms=ms(3))
        grams, _ = self.assertUdp(doc, "error", "not_found", host="nope.np.test", port=uport,
                                  address=None)
        self.assertEqual(grams, [])

    def test_name_with_a_denied_address_is_403(self):
        for path in ("/tcp", "/udp"):
            with self.subTest(path=path):
                answer = self.post(path, {"host": "bad.np.test", "port": 7})
                self.assertProblem(answer, 403, path, param="host")

    def test_denied_literal_is_403(self):
        for path in ("/tcp", "/udp"):
            with self.subTest(path=path):
                answer = self.post(path, {"host": "127.0.0.99", "port": 7})
                self.assertProblem(answer, 403, path, param="host")
                self.assertIn("127.0.0.99", answer[2]["detail"])


# ---- 400 and 403 ----

class ValidationTests(RawxCase):

    @classmethod
    def setUpClass(cls):
        cls.svc = cls.shared(["--max-timeout-ms", "1000", "--default-timeout-ms", "1000"])

    def setUp(self):
        super().setUp()
        # If a bad request were wrongly accepted, its traffic would go to
        # these ports of ours, which refuse it.
        self.tport = refused_tcp_port(self)
        self.uport = held_refused_udp_port(self)

    def port_for(self, path):
        return self.tport if path == "/tcp" else self.uport

    def bad(self, path, param, body):
        answer = self.post(path, body)
        self.assertProblem(answer, 400, path, param=param)
        return answer[2]

    def both(self, param, **fields):
        """400 naming param from /tcp and /udp, for the fields over a valid
        host and port (a field set to None is left out)."""
        for path in ("/tcp", "/udp"):
            body = {"host": HOST, "port": self.port_for(path)}
            body.update(fields)
            body = {k: v for k, v in body.items() if v is not None}
            with self.subTest(path=path, body=body):
                self.bad(path, param, body)

    def test_host(self):
        self.both("host", host=None)
        for host in ("", "bad..name", ".np.test", "a" * 64 + ".np.test", "b\u00fccher.test",
                     "has space.np.test", 123, True, ["127.0.0.1"], {}):
            self.both("host", host=host)

    def test_port(self):
        self.both("port", port=None)
        for pick in (lambda p: 0, lambda p: 65536, lambda p: p + 65536, lambda p: str(p),
                     lambda p: p + 0.5, lambda p: None, lambda p: True, lambda p: [p]):
            for path in ("/tcp", "/udp"):
                port = pick(self.port_for(path))
                body = {"host": HOST, "port": port}
                with self.subTest(path=path, port=port):
                    self.bad(path, "port", body)

    def test_data_and_data_base64_together(self):
        self.both("data_base64", data="x", data_base64="eA==")

    def test_bad_base64(self):
        for b64 in ("!!!!", "Zm9v*A==", "a"):
            self.both("data_base64", data_base64=b64)
        self.both("data_base64", data_base64=12)

    def test_data_not_a_string(self):
        for data in (12, ["a"], {"a": 1}, True):
            self.both("data", data=data)

    def test_timeout_ms(self):
        for t in (0, -1, 1001, 5000, "100", 1.5, True):
            self.both("timeout_ms", timeout_ms=t)

    def test_max_bytes(self):
        for n in (0, -1, 1048577, 2000000, "10", 2.5):
            self.both("max_bytes", max_bytes=n)

    def test_idle_ms(self):
        path = "/tcp"
        base = {"host": HOST, "port": self.tport}
        for extra in ({"idle_ms": 0}, {"idle_ms": "100"}, {"idle_ms": 1.5},
                      {"idle_ms": 301, "timeout_ms": 300}, {"idle_ms": 1001}):
            with self.subTest(extra=extra):
                self.bad(path, "idle_ms", dict(base, **extra))

    def test_half_close_not_a_bool(self):
        for v in ("yes", "true", 1, 0):
            with self.subTest(half_close=v):
                self.bad("/tcp", "half_close", {"host": HOST, "port": self.tport,
                                                "half_close": v})

    def test_max_datagrams(self):
        for n in (0, 101, -1, "3", 1.5):
            with self.subTest(max_datagrams=n):
                self.bad("/udp", "max_datagrams", {"host": HOST, "port": self.uport,
                                                   "max_datagrams": n})

    def test_fields_of_the_other_protocol(self):
        udp = {"host": HOST, "port": self.uport}
        self.bad("/udp", "idle_ms", dict(udp, idle_ms=100))
        self.bad("/udp", "half_close", dict(udp, half_close=True))
        self.bad("/udp", "half_close", dict(udp, half_close=False))
        self.bad("/tcp", "max_datagrams", {"host": HOST, "port": self.tport, "max_datagrams": 1})

    def test_unknown_field(self):
        self.both("foo", foo=1)
        self.both("Host", Host=HOST)

    def test_body_not_a_json_object(self):
        for path in ("/tcp", "/udp"):
            for body in (b"", b"host=127.0.0.1&port=7", b'{"host": "127.0.0.1", ',
                         b'["127.0.0.1", 7]', b'"127.0.0.1"', b"7", b"null"):
                with self.subTest(path=path, body=body):
                    self.bad(path, "body", body)

    def test_limits_are_inclusive(self):
        # The largest values allowed, against ports that refuse: 200 answers.
        doc = self.tcp(host=HOST, port=self.tport, timeout_ms=1000, idle_ms=1000,
                       max_bytes=1048576, half_close=False, data="")
        self.assertFailedBeforeConnecting(doc, "connect_refused", self.tport)
        doc = self.tcp(host=HOST, port=self.tport, timeout_ms=1, idle_ms=1, max_bytes=1)
        self.assertEqual(doc["status"], "error")
        self.assertIn(doc["error"]["code"], ("connect_refused", "timeout"))
        doc = self.udp(host=HOST, port=self.uport, timeout_ms=1000, max_bytes=1048576,
                       max_datagrams=100, data_base64="")
        self.assertUdp(doc, "error", "connect_refused", port=self.uport)
        doc = self.udp(host=HOST, port=self.uport, max_datagrams=1, max_bytes=1)
        self.assertUdp(doc, "error", "connect_refused", port=self.uport)

    def test_metadata_address_is_403(self):
        # Denied by the default policy before any connect: nothing is sent.
        for path in ("/tcp", "/udp"):
            with self.subTest(path=path):
                answer = self.post(path, {"host": "169.254.169.254", "port": 80})
                self.assertProblem(answer, 403, path, param="host")
                self.assertIn("169.254.169.254", answer[2]["detail"])

    def test_get_is_405(self):
        for path in ("/tcp", "/udp"):
            with self.subTest(path=path):
                status, headers, _ = self.svc.get(path)
                self.assertEqual(status, 405)
                self.assertIn("POST", headers["Allow"])


# ---- --auth-token, --rate-limit ----

class AccessTests(RawxCase):

    def test_auth_token(self):
        svc = self.start_service(["--auth-token", "T"])
        for path, port in (("/tcp", svc.tcp_port), ("/udp", svc.udp_port)):
            body = {"host": HOST, "port": port, "data": "Hello from client"}
            with self.subTest(path=path):
                answer = self.post(path, body, svc=svc)
                self.assertProblem(answer, 401, path, param="Authorization",
                                   detail="a valid bearer token is required for " + path)
                self.assertEqual(answer[1]["WWW-Authenticate"], 'Bearer realm="netprobe"')
                answer = self.post(path, body, svc=svc, headers={"Authorization": "Bearer U"})
                self.assertEqual(answer[0], 401)
                doc = self.probe(path, body, svc=svc, headers={"Authorization": "Bearer T"})
                self.assertEqual(doc["status"], "ok", doc)
                if path == "/tcp":
                    self.assertEqual(doc["received"]["data"], GREETING)
                else:
                    self.assertEqual(doc["datagrams"][0]["data"], GREETING)

    def test_rate_limit(self):
        svc = self.start_service(["--rate-limit", "1", "--rate-burst", "2"])
        port = refused_tcp_port(self)
        body = {"host": HOST, "port": port}
        t0 = time.monotonic()
        answers = [self.post("/tcp", body, svc=svc) for _ in range(3)]
        if time.monotonic() - t0 >= 1.0:
            self.skipTest("three refused probes took a second: too slow to test the burst")
        self.assertEqual([a[0] for a in answers], [200, 200, 429], [a[2] for a in answers])
        self.assertEqual(answers[0][2]["error"]["code"], "connect_refused")
        self.assertProblem(answers[2], 429, "/tcp")
        self.assertIn("Retry-After", answers[2][1])


# ---- metrics ----

class MetricsTests(RawxCase):

    def test_probe_outcomes_counted(self):
        svc = self.start_service()
        tport = refused_tcp_port(self)
        uport = held_refused_udp_port(self)
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind((HOST, 0))
        self.addCleanup(silent.close)
        for _ in range(2):
            doc = self.tcp(svc=svc, host=HOST, port=svc.tcp_port, data="Hello from client")
            self.assertEqual(doc["status"], "ok", doc)
        doc = self.tcp(svc=svc, host=HOST, port=tport)
        self.assertEqual(doc["error"]["code"], "connect_refused")
        for _ in range(3):
            doc = self.udp(svc=svc, host=HOST, port=svc.udp_port, data="x")
            self.assertEqual(doc["status"], "ok", doc)
        doc = self.udp(svc=svc, host=HOST, port=uport, data="x")
        self.assertEqual(doc["error"]["code"], "connect_refused")
        doc = self.udp(svc=svc, host=HOST, port=silent.getsockname()[1], timeout_ms=ms(0.1))
        self.assertEqual(doc["error"]["code"], "timeout")

        text = svc.get("/metrics")[2].decode()
        m = harness.parse_metrics(text)

        def series(kind):
            return {dict(labels)["outcome"]: v for (name, labels), v in m.items()
                    if name == "netprobe_probes_total" and dict(labels).get("kind") == kind}

        self.assertEqual(series("tcp"), {"ok": 2.0, "connect_refused": 1.0}, text)
        self.assertEqual(series("udp"), {"ok": 3.0, "connect_refused": 1.0, "timeout": 1.0},
                         text)
        for kind, n in (("tcp", 3.0), ("udp", 5.0)):
            self.assertEqual(m.get(("netprobe_probe_duration_seconds_count",
                                    frozenset({("kind", kind)}))), n, text)


# ---- slow probes wait on the worker's loop, they do not block it ----

class ConcurrencyTests(RawxCase):

    def test_slow_probes_do_not_block_the_worker(self):
        svc = self.start_service(workers=1)
        peer = TcpPeer(h_banner).start()
        self.addCleanup(peer.stop)
        timeout = ms(1.5)
        answers = [None] * 3

        def slow(i):
            answers[i] = self.post("/tcp", {"host": HOST, "port": peer.port,
                                            "timeout_ms": timeout}, svc=svc)

        threads = [threading.Thread(target=slow, args=(i,), daemon=True) for i in range(3)]
        t_start = time.monotonic()
        for t in threads:
            t.start()
        peer.wait_connections(3)
        t0 = time.monotonic()
        self.assertEqual(svc.get("/healthz")[0], 200)
        doc = self.tcp(svc=svc, host=HOST, port=svc.tcp_port, data="Hello from client")
        self.assertEqual(doc["received"]["data"], GREETING)
        doc = self.udp(svc=svc, host=HOST, port=svc.udp_port, data="Hello from client")
        self.assertEqual(doc["datagrams"][0]["data"], GREETING)
        quick = time.monotonic() - t0
        still_waiting = [t.is_alive() for t in threads]
        for t in threads:
            t.join(scaled(10))
        elapsed = time.monotonic() - t_start
        self.assertEqual(still_waiting, [True] * 3,
                         "the slow probes ended before the quick requests were served")
        self.assertLess(quick, 1.0 * SCALE)
        # Concurrent, not one after another.
        self.assertLess(elapsed, 2 * timeout / 1000.0)
        for status, _, doc in answers:
            self.assertEqual(status, 200, doc)
            self.assertEqual(doc["status"], "ok", doc)
            self.assertEqual(doc["ended_by"], "timeout")
            self.assertEqual(doc["received"]["data"], "banner\r\n")


if __name__ == "__main__":
    unittest.main()
