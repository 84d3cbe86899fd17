"""
dnsfixture.py - a real authoritative DNS server (NSD) on loopback, with
generated zones, for the DNS integration tests; and a silent server that
never answers, for timeouts.

    with NsdServer() as ns:          # or ns = NsdServer(); ns.start(); ns.stop()
        ns.port                      # UDP and TCP port on 127.0.0.1 (and ::1)
        ns.address                   # "127.0.0.1:PORT"
        ns.dig("www.np.test", "A")   # dig's +noall +answer lines

    NsdServer(variant=True) serves the same zones with a different address
    for www.np.test (VARIANT_WWW_A instead of WWW_A), for the servers=
    comparison.

    with silent_udp_server() as port: ...   # reads and drops every datagram;
                                            # TCP connects complete and hang

    with EdnsEchoServer() as echo:          # UDP; answers every query with
        echo.port, echo.queries             # one A record and its EDNS options
                                            # echoed (see the class)

NSD answers a query holding an NSID option (RFC 5001) with NSID_BYTES.

Everything lives in a temp dir: nsd.conf, zone files, pidfile, xfrd state,
zone list, log. NSD runs in the foreground (nsd -d), is waited for with a
time bound (dig polling each zone's SOA) and stopped by its PID.

Only loopback addresses; ports are picked by the kernel. Python standard
library only.
"""
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

NSD = os.environ.get("NSD_BIN") or shutil.which("nsd") or "/usr/sbin/nsd"
DIG = shutil.which("dig") or "/usr/bin/dig"

ZONE = "np.test."
REV4_ZONE = "0.0.127.in-addr.arpa."
# 2001:db8::/64 (RFC 3849 documentation prefix): only the DNS server is
# asked about it; no traffic goes there.
REV6_ZONE = "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
ZONES = (ZONE, REV4_ZONE, REV6_ZONE)

TTL = 300
SOA_TTL = 3600
SOA_MINIMUM = 60
SERIAL = 2024060101

# The NSID NSD sends when asked: printable, with a quote and a backslash
# for the JSON writer. Given to NSD in hex, which takes any bytes.
NSID_BYTES = b'ns1 "np\\test"'

WWW_A = "192.0.2.10"
VARIANT_WWW_A = "192.0.2.99"
WEB_A = "127.0.0.1"

# The TXT large enough that a UDP answer with an EDNS size of 1232 is
# truncated: 6 strings of 250 bytes (1506 bytes of rdata).
BIG_TXT_STRINGS = [chr(ord("a") + i) * 250 for i in range(6)]

# Reverse data: address -> PTR names. .10 maps back (good -> 127.0.0.10),
# .11's name has another address, .12 has two PTRs, .13 has none.
REV4 = {
    "127.0.0.10": ["good.np.test."],
    "127.0.0.11": ["bad.np.test."],
    "127.0.0.12": ["one.np.test.", "two.np.test."],
}
REV4_NONE = "127.0.0.13"
REV6 = {
    "2001:db8::1": ["v6.np.test."],
    "2001:db8::2": ["v6bad.np.test."],
}
REV6_NONE = "2001:db8::3"

# Base64 that decodes (NSD checks it): 64 bytes for an ECDSA P-256 key and
# signature.
_B64_64 = ("mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxIL"
           "fDLUT0rAK9iUzy1L53eKGQ==")


def _zone_np(variant):
    www = VARIANT_WWW_A if variant else WWW_A
    big = " ".join('"%s"' % s for s in BIG_TXT_STRINGS)
    return """\
$ORIGIN np.test.
$TTL {ttl}
@        {soa_ttl} IN SOA ns1.np.test. hostmaster.np.test. {serial} 7200 900 1209600 {minimum}
@        IN NS     ns1.np.test.
@        IN NS     ns2.np.test.
ns1      IN A      127.0.0.1
ns2      IN A      127.0.0.2
www      IN A      {www}
multi    IN A      192.0.2.1
multi    IN A      192.0.2.2
web      IN A      {web}
v6       IN AAAA   2001:db8::1
v6bad    IN AAAA   2001:db8::99
good     IN A      127.0.0.10
bad      IN A      127.0.0.99
one      IN A      127.0.0.12
two      IN A      127.0.0.12
alias    IN CNAME  www.np.test.
c1       IN CNAME  c2.np.test.
c2       IN CNAME  c3.np.test.
c3       IN A      192.0.2.33
mx       IN MX     10 mail.np.test.
mx       IN MX     20 backup.example.net.
mail     IN A      192.0.2.25
txt      IN TXT    "hello world"
html     IN TXT    "<img src=x onerror=window.__np_xss=1>" "<script>window.__np_xss=2</script>"
esc      IN TXT    "say \\"hi\\"" "back\\\\slash" "caf\\195\\169" "tab\\009end" "semi;colon"
bigtxt   IN TXT    {big}
_sip._tcp IN SRV   10 60 5060 sip.np.test.
caa      IN CAA    0 issue "letsencrypt.org"
caa      IN CAA    0 iodef "mailto:security@np.test"
caa      IN CAA    128 tbs "Unknown"
ptr      IN PTR    www.np.test.
naptr    IN NAPTR  100 10 "S" "SIP+D2U" "" _sip._udp.np.test.
naptr    IN NAPTR  100 50 "u" "E2U+sip" "!^.*$!sip:info@np.test!" .
ds       IN DS     12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118D4B1F59E5E6B31F0A8E7C4D1
dnskey   IN DNSKEY 257 3 13 {b64}
rrsig    IN RRSIG  A 13 3 300 20300101000000 20240101000000 12345 np.test. {b64}
nsec     IN NSEC   zz.np.test. A AAAA RRSIG NSEC TYPE65400
https    IN HTTPS  1 . alpn="h2,h3" port=8443 ipv4hint=192.0.2.1 ipv6hint=2001:db8::1
svcb     IN SVCB   1 svc.np.test. alpn="dot" port=853
svcb     IN SVCB   0 svc.np.test.
_443._tcp IN TLSA  3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6
sshfp    IN SSHFP  4 2 123456789ABCDEF67890123456789ABCDEF67890123456789ABCDEF123456789
uri      IN URI    10 1 "https://www.np.test/path"
hinfo    IN HINFO  "PC-Intel-700MHz" "Debian Linux"
loc      IN LOC    52 22 23.000 N 4 53 32.000 E -2.00m 1m 10000m 10m
unk      IN TYPE65400 \\# 4 0A000001
; Beyond the common types: each only checked against dig.
emptytxt IN TXT    "" "x" ""
weird    IN CNAME  a\\.b\\032c\\"d.np.test.
https2   IN HTTPS  1 . mandatory=alpn,port alpn="h2,h3" no-default-alpn port=8443 ipv4hint=192.0.2.1,192.0.2.2 ech="AEX+DQBBpQAgACBm" ipv6hint=2001:db8::1,2001:db8::2 key65000="hello"
svcb2    IN SVCB   2 doh.np.test. alpn="h2" dohpath="/dns-query{{?dns}}"
caa2     IN CAA    0 issue "ca.example; account=123"
caa2     IN CAA    0 issuewild ";"
loc2     IN LOC    0 0 0.000 S 0 0 0.000 W 0.00m
loc3     IN LOC    60 9 0.510 N 24 39 0.000 E 10.00m 20m 2000m 20m
nsec3p   IN NSEC3PARAM 1 0 12 AABBCCDD
nsec3s   IN NSEC3PARAM 1 0 0 -
cds      IN CDS    12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118D4B1F59E5E6B31F0A8E7C4D1
cdnskey  IN CDNSKEY 257 3 13 {b64}
pgp      IN OPENPGPKEY {b64}
dhcid    IN DHCID  AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=
eui48    IN EUI48  00-00-5e-00-53-2a
eui64    IN EUI64  00-00-5e-ef-10-00-00-2a
rp       IN RP     admin.np.test. txt.np.test.
afsdb    IN AFSDB  1 afs.np.test.
kx       IN KX     10 kx.np.test.
dname    IN DNAME  target.example.
cert     IN CERT   PGP 0 0 {b64}
ipseckey IN IPSECKEY 10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==
apl      IN APL    1:192.0.2.0/24 !1:192.0.2.128/25 2:2001:db8::/32
spf      IN SPF    "v=spf1 -all"
smimea   IN SMIMEA 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6
csync    IN CSYNC  66 3 A NS AAAA
l32      IN L32    10 10.1.2.0
l64      IN L64    10 2001:0db8:1140:1000
lp       IN LP     10 l64-subnet1.np.test.
nid      IN NID    10 0014:4fff:ff20:ee64
nullrec  IN NULL   \\# 3 010203
zonemd   IN ZONEMD 2024060101 1 1 A8E7C4D12BB183AF5F22588179A53B0A98631FAD1A292118D4B1F59E5E6B31F00C72AC70B745AC19998811B131D662C9
wks      IN WKS    192.0.2.5 TCP 25 80
minfo    IN MINFO  admin.np.test. errors.np.test.
rt       IN RT     10 relay.np.test.
mb       IN MB     mailbox.np.test.
mg       IN MG     member.np.test.
mr       IN MR     renamed.np.test.
ta       IN TYPE32768 \\# 36 30390D022BB183AF5F22588179A53B0A98631FAD1A292118D4B1F59E5E6B31F0A8E7C4D1
dlv      IN TYPE32769 \\# 36 30390D022BB183AF5F22588179A53B0A98631FAD1A292118D4B1F59E5E6B31F0A8E7C4D1
sig      IN SIG    A 13 3 300 20300101000000 20240101000000 12345 np.test. {b64}
badds    IN TYPE43 \\# 6 30390D02ABCD
ttl0     0 IN A    192.0.2.0
ttlmax   2147483647 IN A 192.0.2.255
""".format(ttl=TTL, soa_ttl=SOA_TTL, serial=SERIAL, minimum=SOA_MINIMUM, www=www, web=WEB_A,
           big=big, b64=_B64_64)


def _zone_rev4():
    lines = ["$ORIGIN %s" % REV4_ZONE, "$TTL %d" % TTL,
             "@ %d IN SOA ns1.np.test. hostmaster.np.test. %d 7200 900 1209600 %d"
             % (SOA_TTL, SERIAL, SOA_MINIMUM),
             "@ IN NS ns1.np.test."]
    for ip, names in REV4.items():
        for n in names:
            lines.append("%s IN PTR %s" % (ip.rsplit(".", 1)[1], n))
    return "\n".join(lines) + "\n"


def reverse_name(ip):
    """The PTR name for an address, with the trailing dot."""
    import ipaddress
    return ipaddress.ip_address(ip).reverse_pointer + "."


def _zone_rev6():
    lines = ["$ORIGIN %s" % REV6_ZONE, "$TTL %d" % TTL,
             "@ %d IN SOA ns1.np.test. hostmaster.np.test. %d 7200 900 1209600 %d"
             % (SOA_TTL, SERIAL, SOA_MINIMUM),
             "@ IN NS ns1.np.test."]
    for ip, names in REV6.items():
        for n in names:
            lines.append("%s IN PTR %s" % (reverse_name(ip), n))
    return "\n".join(lines) + "\n"


def ipv6_loopback_works():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(v6=False):
    """A port free for UDP and TCP on 127.0.0.1 (and ::1 when v6)."""
    for _ in range(200):
        socks = []
        try:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(udp)
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(tcp)
                tcp.bind(("127.0.0.1", port))
                if v6:
                    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                        s6 = socket.socket(socket.AF_INET6, kind)
                        socks.append(s6)
                        s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                        s6.bind(("::1", port))
            except OSError:
                continue
            return port
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no port free for UDP and TCP after 200 tries")


class NsdServer:
    """One NSD process serving ZONES on 127.0.0.1:port (and [::1]:port)."""

    def __init__(self, variant=False, ready_timeout=20):
        self.variant = variant
        self.ready_timeout = ready_timeout
        self.v6 = ipv6_loopback_works()
        self.port = None
        self.proc = None
        self.dir = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _write_config(self):
        d = self.dir
        files = {ZONE: "np.test.zone", REV4_ZONE: "rev4.zone", REV6_ZONE: "rev6.zone"}
        texts = {ZONE: _zone_np(self.variant), REV4_ZONE: _zone_rev4(), REV6_ZONE: _zone_rev6()}
        for z, f in files.items():
            with open(os.path.join(d, f), "w", encoding="ascii") as fh:
                fh.write(texts[z])
        addrs = ["127.0.0.1@%d" % self.port]
        if self.v6:
            addrs.append("::1@%d" % self.port)
        conf = ["server:",
                '  username: ""',
                '  chroot: ""',
                "  zonesdir: \"%s\"" % d,
                "  pidfile: \"%s\"" % os.path.join(d, "nsd.pid"),
                '  database: ""',
                "  xfrdfile: \"%s\"" % os.path.join(d, "xfrd.state"),
                "  xfrdir: \"%s\"" % d,
                "  zonelistfile: \"%s\"" % os.path.join(d, "zone.list"),
                "  logfile: \"%s\"" % os.path.join(d, "nsd.log"),
                "  server-count: 1",
                "  verbosity: 1",
                "  hide-version: yes",
                '  nsid: "%s"' % NSID_BYTES.hex(),
                "  do-ip4: yes",
                "  do-ip6: %s" % ("yes" if self.v6 else "no"),
                "  reuseport: no",
                "  round-robin: no",
                "  minimal-responses: yes",
                "  tcp-count: 100"]
        conf += ["  ip-address: %s" % a for a in addrs]
        conf += ["", "remote-control:", "  control-enable: no", ""]
        for z, f in files.items():
            conf += ["zone:", "  name: %s" % z, "  zonefile: \"%s\"" % os.path.join(d, f), ""]
        self.conf = os.path.join(d, "nsd.conf")
        with open(self.conf, "w", encoding="ascii") as fh:
            fh.write("\n".join(conf))

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="netprobe-nsd-")
        last = None
        for _ in range(3):  # another process may take the port in between
            self.port = free_port(self.v6)
            self._write_config()
            for f in ("nsd.log", "nsd.stderr", "nsd.pid"):
                if os.path.exists(os.path.join(self.dir, f)):
                    os.unlink(os.path.join(self.dir, f))
            self.stderr_path = os.path.join(self.dir, "nsd.stderr")
            with open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen([NSD, "-d", "-c", self.conf],
                                             stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=err)
            try:
                self._wait_ready()
                return self
            except RuntimeError as e:
                last = e
                self._terminate()
                if "already in use" not in str(e):
                    break
        self.stop()
        raise last

    def _answers_soa(self, zone):
        try:
            r = subprocess.run([DIG, "@127.0.0.1", "-p", str(self.port), "+tries=1", "+time=1",
                                "+norec", "+noall", "+answer", "+comments", "SOA", zone],
                               capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return ("status: NOERROR" in r.stdout and "flags: qr aa" in r.stdout
                and " SOA " in r.stdout.replace("\t", " "))

    def _wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        pending = list(ZONES)
        while pending:
            if self.proc.poll() is not None:
                raise RuntimeError("nsd exited with %s before answering:\n%s"
                                   % (self.proc.returncode, self.log_text()))
            log = self.log_text()
            if " error: " in log:
                raise RuntimeError("nsd reports errors (zone files or config):\n%s" % log)
            if time.monotonic() > deadline:
                raise RuntimeError("nsd on port %d did not serve %s within %ds:\n%s"
                                   % (self.port, pending, self.ready_timeout, self.log_text()))
            if self._answers_soa(pending[0]):
                pending.pop(0)
                continue
            time.sleep(0.05)

    def log_text(self):
        out = []
        for f in ("nsd.stderr", "nsd.log"):
            p = os.path.join(self.dir, f)
            if os.path.exists(p):
                with open(p, "rb") as fh:
                    out.append(fh.read().decode(errors="replace"))
        return "\n".join(out)

    def _terminate(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def stop(self):
        """Stops NSD by its PID (SIGTERM, SIGKILL after 10 s) and removes
        the temp dir. Safe to call twice."""
        self._terminate()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def dig(self, name, rtype, *extra):
        """dig's +noall +answer lines (no recursion asked) for name/type."""
        r = subprocess.run([DIG, "@127.0.0.1", "-p", str(self.port), "+tries=1", "+time=2",
                            "+norec", "+noall", "+answer"] + list(extra) + [name, rtype],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise RuntimeError("dig %s %s failed (%d): %s" % (name, rtype, r.returncode,
                                                              r.stderr or r.stdout))
        return [ln for ln in r.stdout.splitlines() if ln and not ln.startswith(";")]

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class SilentServer:
    """A UDP socket that reads and drops every datagram, and a TCP socket
    on the same port that listens but never accepts (connects complete in
    the kernel's backlog, and nothing is ever sent back)."""

    def __init__(self):
        self.port = None
        self._stop = threading.Event()
        self._thread = None
        self.udp = None
        self.tcp = None
        self.received = 0

    def start(self):
        for _ in range(200):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(64)
            self.udp, self.tcp, self.port = udp, tcp, port
            break
        else:
            raise RuntimeError("no port free for the silent server")
        self.udp.settimeout(0.1)
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()
        return self

    def _drain(self):
        while not self._stop.is_set():
            try:
                self.udp.recvfrom(65536)
                self.received += 1
            except socket.timeout:
                continue
            except OSError:
                return

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for s in (self.udp, self.tcp):
            if s is not None:
                s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class SlowTcpDnsServer:
    """A DNS server over TCP only that answers every query after `delay`
    seconds with one A record (`address`, TTL 60) for the name asked."""

    def __init__(self, delay, address="192.0.2.77"):
        self.delay = delay
        self.address = address
        self._stop = threading.Event()
        self.sock = None
        self.port = None
        self._threads = []

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    @staticmethod
    def _recv_exact(conn, n, stop):
        buf = b""
        while len(buf) < n and not stop.is_set():
            try:
                b = conn.recv(n - len(buf))
            except socket.timeout:
                continue
            if not b:
                return None
            buf += b
        return buf if len(buf) == n else None

    def answer(self, query):
        off = 12
        while query[off] != 0:
            off += 1 + query[off]
        qend = off + 5
        flags = 0x8400 | (query[2] << 8 & 0x0100)
        return (query[:2] + struct.pack(">HHHHH", flags, 1, 1, 0, 0) + query[12:qend]
                + b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4)
                + socket.inet_aton(self.address))

    def _serve(self, conn):
        conn.settimeout(0.1)
        with conn:
            while not self._stop.is_set():
                head = self._recv_exact(conn, 2, self._stop)
                if head is None:
                    return
                query = self._recv_exact(conn, struct.unpack(">H", head)[0], self._stop)
                if query is None:
                    return
                if self._stop.wait(self.delay):
                    return
                msg = self.answer(query)
                try:
                    conn.sendall(struct.pack(">H", len(msg)) + msg)
                except OSError:
                    return

    def stop(self):
        self._stop.set()
        if self.sock is not None:
            self.sock.close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class EdnsEchoServer:
    """A UDP DNS server on 127.0.0.1 that keeps every query (bytes) in
    `queries` and answers it with the question, one A record (ECHO_A, TTL
    60) and an OPT record (class 1232) whose options echo the query's: a
    Client Subnet option comes back with SCOPE = SOURCE PREFIX-LENGTH (as
    an ECS-aware server would answer), an NSID option as ECHO_NSID (not
    printable), any other option as it came. A query without OPT gets an
    answer without OPT."""

    ECHO_A = "192.0.2.77"
    ECHO_NSID = b"\x00id\xff"

    def __init__(self):
        self.sock = None
        self.port = None
        self.queries = []
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def opt_options(query):
        """(udp_size, [(code, value)]) of the query's OPT record, or None."""
        off = 12
        while query[off] != 0:
            off += 1 + query[off]
        off += 5
        if struct.unpack(">H", query[10:12])[0] == 0:
            return None
        if query[off] != 0:
            raise ValueError("OPT owner is not the root")
        rtype, udp, _ttl, rdlen = struct.unpack(">HHIH", query[off + 1:off + 11])
        if rtype != 41:
            raise ValueError("the additional record is not OPT")
        rdata = query[off + 11:off + 11 + rdlen]
        opts, pos = [], 0
        while pos < len(rdata):
            code, olen = struct.unpack(">HH", rdata[pos:pos + 4])
            opts.append((code, rdata[pos + 4:pos + 4 + olen]))
            pos += 4 + olen
        return udp, opts

    def answer(self, query):
        off = 12
        while query[off] != 0:
            off += 1 + query[off]
        qend = off + 5
        opt = self.opt_options(query)
        flags = 0x8400 | (query[2] << 8 & 0x0100)
        msg = (query[:2] + struct.pack(">HHHHH", flags, 1, 1, 0, 1 if opt else 0)
               + query[12:qend] + b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4)
               + socket.inet_aton(self.ECHO_A))
        if opt:
            rdata = b""
            for code, value in opt[1]:
                if code == 8 and len(value) >= 4:
                    value = value[:3] + value[2:3] + value[4:]
                elif code == 3:
                    value = self.ECHO_NSID
                rdata += struct.pack(">HH", code, len(value)) + value
            msg += b"\x00" + struct.pack(">HHIH", 41, 1232, 0, len(rdata)) + rdata
        return msg

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries.append(data)
            try:
                self.sock.sendto(self.answer(data), peer)
            except (OSError, ValueError, IndexError, struct.error):
                continue

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.sock is not None:
            self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


@contextlib.contextmanager
def silent_udp_server():
    """Context manager: yields the port of a SilentServer."""
    s = SilentServer().start()
    try:
        yield s.port
    finally:
        s.stop()


if __name__ == "__main__":
    # Manual check: start NSD, print dig's view of every name, stop.
    with NsdServer() as ns:
        print("nsd on", ns.address, "v6" if ns.v6 else "no v6")
        for n, t in (("www.np.test", "A"), ("https.np.test", "HTTPS"), ("unk.np.test", "TYPE65400")):
            print("\n".join(ns.dig(n, t)))
