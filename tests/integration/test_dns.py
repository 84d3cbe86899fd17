"""
test_dns.py - the DNS endpoints against a real authoritative server.

NSD (dnsfixture.py) serves np.test. with every record type the service must
show, a reverse zone for 127.0.0.0/24 and one for 2001:db8::/64. The real
netprobe binary asks it (--dns-server 127.0.0.1:NSDPORT) and each answer is
checked field by field: GET /dns for every type (exact presentation data,
and the same data dig prints), NXDOMAIN, CNAME chains, header flags, the
query echo, truncation and the TCP retry, unknown types, timeouts against a
server that never answers, every 400/403 with the parameter it names, the
Google JSON shape, POST /dns batches, servers= comparison, /rdns with
forward confirmation, RFC 8484 /dns-query in wire format and with real DoH
clients (curl --doh-url, kdig +https) over HTTPS, and the probe metrics.

Traffic goes only to 127.0.0.1 / ::1 and to ports these tests opened.
Every wait is time-bounded (tripled under NETPROBE_SANITIZED=1).
"""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import dnsfixture
import harness
from harness import HOST, Service, ServiceTestCase, scaled

NS = None        # the NSD every test asks
SILENT = None    # a server that never answers
SVC = None       # the shared service


def setUpModule():
    global NS, SILENT, SVC
    NS = dnsfixture.NsdServer().start()
    try:
        SILENT = dnsfixture.SilentServer().start()
        SVC = Service(["--dns-server", NS.address]).start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    rc = None
    if SVC is not None:
        rc = SVC.stop()
        SVC.close()
    if SILENT is not None:
        SILENT.stop()
    if NS is not None:
        NS.stop()
    if SVC is not None and rc != 0:
        raise AssertionError("the shared netprobe exited with %r after SIGTERM, not 0" % rc)


def q(**params):
    """A query string from keyword arguments (do_ -> do)."""
    return urllib.parse.urlencode({k.rstrip("_"): v for k, v in params.items()})


# ---- what np.test. holds, in presentation form as dig prints it ----

TYPE_CODES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "HINFO": 13, "MX": 15,
              "TXT": 16, "AAAA": 28, "LOC": 29, "SRV": 33, "NAPTR": 35, "DS": 43, "SSHFP": 44,
              "RRSIG": 46, "NSEC": 47, "DNSKEY": 48, "TLSA": 52, "SVCB": 64, "HTTPS": 65,
              "URI": 256, "CAA": 257, "TYPE65400": 65400}

B64_SPLIT = ("mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+ "
             "KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==")

# (test id, owner, type, ttl, data of each answer record in NSD's order)
RECORDS = [
    ("A", "www.np.test.", "A", 300, ["192.0.2.10"]),
    ("A_two", "multi.np.test.", "A", 300, ["192.0.2.1", "192.0.2.2"]),
    ("AAAA", "v6.np.test.", "AAAA", 300, ["2001:db8::1"]),
    ("CNAME", "alias.np.test.", "CNAME", 300, ["www.np.test."]),
    ("MX", "mx.np.test.", "MX", 300, ["10 mail.np.test.", "20 backup.example.net."]),
    ("NS", "np.test.", "NS", 300, ["ns1.np.test.", "ns2.np.test."]),
    ("TXT", "txt.np.test.", "TXT", 300, ['"hello world"']),
    # Quotes and backslashes escaped, bytes outside 0x20-0x7e as \DDD.
    ("TXT_escapes", "esc.np.test.", "TXT", 300,
     ['"say \\"hi\\"" "back\\\\slash" "caf\\195\\169" "tab\\009end" "semi;colon"']),
    ("SOA", "np.test.", "SOA", 3600,
     ["ns1.np.test. hostmaster.np.test. 2024060101 7200 900 1209600 60"]),
    ("SRV", "_sip._tcp.np.test.", "SRV", 300, ["10 60 5060 sip.np.test."]),
    ("CAA", "caa.np.test.", "CAA", 300,
     ['0 issue "letsencrypt.org"', '0 iodef "mailto:security@np.test"', '128 tbs "Unknown"']),
    ("PTR", "ptr.np.test.", "PTR", 300, ["www.np.test."]),
    ("NAPTR", "naptr.np.test.", "NAPTR", 300,
     ['100 10 "S" "SIP+D2U" "" _sip._udp.np.test.',
      '100 50 "u" "E2U+sip" "!^.*$!sip:info@np.test!" .']),
    # BIND splits long hex and base64 fields with a space (every 56 characters).
    ("DS", "ds.np.test.", "DS", 300,
     ["12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118D4B1F59E5E6B31F0 A8E7C4D1"]),
    ("DNSKEY", "dnskey.np.test.", "DNSKEY", 300, ["257 3 13 " + B64_SPLIT]),
    ("RRSIG", "rrsig.np.test.", "RRSIG", 300,
     ["A 13 3 300 20300101000000 20240101000000 12345 np.test. " + B64_SPLIT]),
    ("NSEC", "nsec.np.test.", "NSEC", 300, ["zz.np.test. A AAAA RRSIG NSEC TYPE65400"]),
    ("HTTPS", "https.np.test.", "HTTPS", 300,
     ['1 . alpn="h2,h3" port=8443 ipv4hint=192.0.2.1 ipv6hint=2001:db8::1']),
    ("SVCB", "svcb.np.test.", "SVCB", 300, ['1 svc.np.test. alpn="dot" port=853', "0 svc.np.test."]),
    ("TLSA", "_443._tcp.np.test.", "TLSA", 300,
     ["3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B566 64C5D3D6"]),
    ("SSHFP", "sshfp.np.test.", "SSHFP", 300,
     ["4 2 123456789ABCDEF67890123456789ABCDEF67890123456789ABCDEF1 23456789"]),
    ("URI", "uri.np.test.", "URI", 300, ['10 1 "https://www.np.test/path"']),
    ("HINFO", "hinfo.np.test.", "HINFO", 300, ['"PC-Intel-700MHz" "Debian Linux"']),
    ("LOC", "loc.np.test.", "LOC", 300, ["52 22 23.000 N 4 53 32.000 E -2.00m 1m 10000m 10m"]),
    ("TYPE65400", "unk.np.test.", "TYPE65400", 300, ["\\# 4 0A000001"]),
    ("PTR_reverse", "12.0.0.127.in-addr.arpa.", "PTR", 300, ["one.np.test.", "two.np.test."]),
]

# Rdata that breaks its type's rules (a SHA-256 DS digest of 2 bytes): dig
# calls the whole message malformed; the service prints it in the RFC 3597
# generic form under its type.
EXACT_ONLY = [
    ("DS_malformed_is_generic", "badds.np.test.", "DS", 300, ["\\# 6 30390D02ABCD"]),
]

# More types and harder data, checked only against dig: (test id, owner, type).
DIG_ONLY = [
    ("TXT_empty_strings", "emptytxt.np.test.", "TXT"),
    ("CNAME_escaped_target", "weird.np.test.", "CNAME"),
    ("HTTPS_every_key", "https2.np.test.", "HTTPS"),
    ("SVCB_dohpath", "svcb2.np.test.", "SVCB"),
    ("CAA_quoted_values", "caa2.np.test.", "CAA"),
    ("LOC_zero", "loc2.np.test.", "LOC"),
    ("LOC_precision", "loc3.np.test.", "LOC"),
    ("NSEC3PARAM", "nsec3p.np.test.", "NSEC3PARAM"),
    ("NSEC3PARAM_no_salt", "nsec3s.np.test.", "NSEC3PARAM"),
    ("CDS", "cds.np.test.", "CDS"),
    ("CDNSKEY", "cdnskey.np.test.", "CDNSKEY"),
    ("OPENPGPKEY", "pgp.np.test.", "OPENPGPKEY"),
    ("DHCID", "dhcid.np.test.", "DHCID"),
    ("EUI48", "eui48.np.test.", "EUI48"),
    ("EUI64", "eui64.np.test.", "EUI64"),
    ("RP", "rp.np.test.", "RP"),
    ("AFSDB", "afsdb.np.test.", "AFSDB"),
    ("KX", "kx.np.test.", "KX"),
    ("DNAME", "dname.np.test.", "DNAME"),
    ("CERT", "cert.np.test.", "CERT"),
    ("IPSECKEY", "ipseckey.np.test.", "IPSECKEY"),
    ("APL", "apl.np.test.", "APL"),
    ("SPF", "spf.np.test.", "SPF"),
    ("SMIMEA", "smimea.np.test.", "SMIMEA"),
    ("CSYNC", "csync.np.test.", "CSYNC"),
    ("L32", "l32.np.test.", "L32"),
    ("L64", "l64.np.test.", "L64"),
    ("LP", "lp.np.test.", "LP"),
    ("NID", "nid.np.test.", "NID"),
    ("NULL", "nullrec.np.test.", "NULL"),
    ("ZONEMD", "zonemd.np.test.", "ZONEMD"),
    ("WKS", "wks.np.test.", "WKS"),
    ("MINFO", "minfo.np.test.", "MINFO"),
    ("RT", "rt.np.test.", "RT"),
    ("MB", "mb.np.test.", "MB"),
    ("MG", "mg.np.test.", "MG"),
    ("MR", "mr.np.test.", "MR"),
    ("TA", "ta.np.test.", "TA"),
    ("DLV", "dlv.np.test.", "DLV"),
    ("SIG", "sig.np.test.", "SIG"),
    ("A_ttl_0", "ttl0.np.test.", "A"),
    ("A_ttl_max", "ttlmax.np.test.", "A"),
]

# Types whose presentation differs from dig's, found by these tests: test id
# -> why. Those tests are expected failures until service/dns_rdata.c or
# dns_wire.c is fixed (the report names the difference).
EXACT_MISMATCH = {}
DIG_MISMATCH = {}

NATIVE_KEYS = {"query", "timing", "status", "rcode", "rcode_code", "id", "opcode", "flags",
               "tc_retried_over_tcp", "question", "answer", "authority", "additional",
               "edns", "message_size"}
QUERY_KEYS = {"name", "type", "type_code", "class", "server", "transport", "rd", "cd", "ad",
              "do", "edns", "timeout_ms", "tries"}
RR_KEYS = {"name", "type", "type_code", "class", "ttl", "data"}


def dig_data(line):
    """dig's answer line -> (owner, ttl, class, type, data)."""
    f = line.split(None, 4)
    return f[0], int(f[1]), f[2], f[3], f[4]


class DnsCase(ServiceTestCase):
    """Helpers for GET /dns against the shared service."""


    def lookup(self, svc=None, expect_status=200, headers=None, timeout=10, **params):
        svc = svc or SVC
        status, hdrs, doc = svc.get_json("/dns?" + q(**params), headers=headers, timeout=timeout)
        self.assertEqual(status, expect_status, doc)
        if expect_status == 200:
            self.assertEqual(hdrs["Content-Type"], "application/json")
        return doc

    def assertOk(self, doc, rcode="NOERROR"):
        self.assertEqual(set(doc), NATIVE_KEYS, doc)
        self.assertEqual(doc["status"], "ok", doc)
        self.assertEqual(doc["rcode"], rcode)
        self.assertEqual(doc["rcode_code"], {"NOERROR": 0, "NXDOMAIN": 3}[rcode])
        self.assertEqual(doc["opcode"], "QUERY")
        self.assertEqual(set(doc["query"]), QUERY_KEYS)
        for sec in ("answer", "authority", "additional"):
            for rr in doc[sec]:
                self.assertEqual(set(rr), RR_KEYS, rr)
                self.assertEqual(rr["class"], "IN")

    def answer_data(self, doc):
        return [rr["data"] for rr in doc["answer"]]

    def capture_query(self, **params):
        """The query message the service sends for params, caught by a UDP
        socket that never answers."""
        rec = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rec.bind((HOST, 0))
        rec.settimeout(scaled(5))
        try:
            server = "127.0.0.1:%d" % rec.getsockname()[1]
            t = threading.Thread(target=SVC.get, args=("/dns?" + q(
                server=server, timeout_ms="200", tries="1", **params),))
            t.start()
            data, _ = rec.recvfrom(4096)
            t.join(scaled(5))
        finally:
            rec.close()
        return data

    def problem(self, path, status, param, svc=None, method="GET", body=None, headers=None):
        svc = svc or SVC
        answer = svc.json(method, path, headers=headers, body=body)
        self.assertProblem(answer, status, path.split("?")[0], param=param)
        return answer[2]


# ---- every record type ----

class RecordTypeTests(DnsCase):
    """GET /dns for every type: exact presentation data, and dig's."""


def _exact_test(rid, owner, rtype, ttl, datas):
    def test(self):
        doc = self.lookup(name=owner.rstrip("."), type=rtype)
        self.assertOk(doc)
        self.assertEqual(doc["query"]["type"], rtype)
        self.assertEqual(doc["query"]["type_code"], TYPE_CODES[rtype])
        self.assertEqual(doc["question"], [{"name": owner, "type": rtype,
                                            "type_code": TYPE_CODES[rtype], "class": "IN"}])
        self.assertEqual(doc["answer"], [{"name": owner, "type": rtype,
                                          "type_code": TYPE_CODES[rtype], "class": "IN",
                                          "ttl": ttl, "data": d} for d in datas])
    test.__doc__ = "GET /dns?name=%s&type=%s -> exactly %r" % (owner, rtype, datas)
    if rid in EXACT_MISMATCH:
        test = unittest.expectedFailure(test)
    return test


def _dig_test(rid, owner, rtype):
    def test(self):
        want = [dig_data(line) for line in NS.dig(owner, rtype)]
        self.assertTrue(want, "dig found no %s for %s" % (rtype, owner))
        doc = self.lookup(name=owner, type=rtype, rd=0)
        self.assertOk(doc)
        got = [(rr["name"], rr["ttl"], rr["class"], rr["type"], rr["data"])
               for rr in doc["answer"]]
        self.assertEqual(got, want)
    test.__doc__ = "GET /dns %s %s prints each record as dig does" % (owner, rtype)
    if rid in DIG_MISMATCH:
        test = unittest.expectedFailure(test)
    return test


for _rid, _owner, _rtype, _ttl, _datas in RECORDS:
    setattr(RecordTypeTests, "test_type_" + _rid, _exact_test(_rid, _owner, _rtype, _ttl, _datas))
    setattr(RecordTypeTests, "test_same_as_dig_" + _rid, _dig_test(_rid, _owner, _rtype))
for _rid, _owner, _rtype, _ttl, _datas in EXACT_ONLY:
    setattr(RecordTypeTests, "test_type_" + _rid, _exact_test(_rid, _owner, _rtype, _ttl, _datas))
for _rid, _owner, _rtype in DIG_ONLY:
    setattr(RecordTypeTests, "test_same_as_dig_" + _rid, _dig_test(_rid, _owner, _rtype))


# ---- answers, flags, truncation, unknown types, timeouts ----

class AnswerTests(DnsCase):

    def test_nxdomain_has_soa_in_authority(self):
        doc = self.lookup(name="nothere.np.test")
        self.assertOk(doc, "NXDOMAIN")
        self.assertEqual(doc["answer"], [])
        self.assertEqual(doc["authority"], [{
            "name": "np.test.", "type": "SOA", "type_code": 6, "class": "IN",
            "ttl": dnsfixture.SOA_MINIMUM,
            "data": "ns1.np.test. hostmaster.np.test. 2024060101 7200 900 1209600 60"}])
        self.assertTrue(doc["flags"]["aa"])

    def test_nodata_is_noerror_with_soa(self):
        doc = self.lookup(name="www.np.test", type="AAAA")
        self.assertOk(doc)
        self.assertEqual(doc["answer"], [])
        self.assertEqual([rr["type"] for rr in doc["authority"]], ["SOA"])

    def test_refused_is_reported_not_retried(self):
        # NSD refuses names outside its zones: an answer like any other.
        doc = self.lookup(name="example.com", type="A")
        self.assertEqual((doc["status"], doc["rcode"], doc["rcode_code"]), ("ok", "REFUSED", 5))
        self.assertEqual(doc["answer"], [])
        self.assertLess(doc["timing"]["total_ms"], 1000 * harness.SCALE)

    def test_class_chaos(self):
        doc = self.lookup(name="version.bind", type="TXT", **{"class": "CH"})
        self.assertEqual(doc["status"], "ok")
        self.assertEqual((doc["query"]["class"], doc["question"][0]["class"]), ("CH", "CH"))
        self.assertEqual(doc["rcode"], "REFUSED")  # hide-version: yes

    def test_cname_chain_in_order(self):
        doc = self.lookup(name="c1.np.test", type="A")
        self.assertOk(doc)
        self.assertEqual([(rr["name"], rr["type"], rr["data"]) for rr in doc["answer"]], [
            ("c1.np.test.", "CNAME", "c2.np.test."),
            ("c2.np.test.", "CNAME", "c3.np.test."),
            ("c3.np.test.", "A", "192.0.2.33"),
        ])

    def test_flags_default_rd(self):
        doc = self.lookup(name="www.np.test")
        self.assertOk(doc)
        self.assertEqual(doc["flags"], {"qr": True, "aa": True, "tc": False, "rd": True,
                                        "ra": False, "ad": False, "cd": False})
        self.assertTrue(doc["query"]["rd"])

    def test_flags_rd_off_is_echoed(self):
        doc = self.lookup(name="www.np.test", rd="0")
        self.assertOk(doc)
        self.assertEqual(doc["flags"], {"qr": True, "aa": True, "tc": False, "rd": False,
                                        "ra": False, "ad": False, "cd": False})
        self.assertFalse(doc["query"]["rd"])

    def test_flags_cd_and_do(self):
        doc = self.lookup(name="www.np.test", cd="1", do_="1")
        self.assertOk(doc)
        self.assertTrue(doc["query"]["cd"])
        self.assertTrue(doc["query"]["do"])
        # NSD answers CD=0 (dig +cd shows the same); DO comes back in EDNS.
        self.assertEqual(doc["flags"], {"qr": True, "aa": True, "tc": False, "rd": True,
                                        "ra": False, "ad": False, "cd": False})
        self.assertEqual(doc["edns"], {"udp_size": 1232, "version": 0, "do": True,
                                       "options": []})

    def test_query_bits_on_the_wire(self):
        data = self.capture_query(name="www.np.test", type="MX", cd="1", ad="1", do_="1")
        qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", data[:12])
        self.assertEqual(flags, 0x0100 | 0x0020 | 0x0010)  # RD, AD, CD; opcode QUERY
        self.assertEqual((qd, an, ns, ar), (1, 0, 0, 1))
        question = b"\x03www\x02np\x04test\x00" + struct.pack(">HH", 15, 1)
        self.assertEqual(data[12:12 + len(question)], question)
        # OPT: root owner, type 41, class = 1232, TTL with only DO, no options.
        self.assertEqual(data[12 + len(question):],
                         b"\x00" + struct.pack(">HHIH", 41, 1232, 0x8000, 0))

    def test_query_without_rd_or_edns_on_the_wire(self):
        data = self.capture_query(name="www.np.test", rd="0", edns="0")
        qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", data[:12])
        self.assertEqual(flags, 0)
        self.assertEqual((qd, an, ns, ar), (1, 0, 0, 0))
        self.assertEqual(data[12:], b"\x03www\x02np\x04test\x00" + struct.pack(">HH", 1, 1))

    def test_edns_off_has_no_opt(self):
        doc = self.lookup(name="www.np.test", edns="0")
        self.assertEqual(set(doc), NATIVE_KEYS - {"edns"})
        self.assertEqual(doc["status"], "ok")
        self.assertFalse(doc["query"]["edns"])
        self.assertEqual(self.answer_data(doc), ["192.0.2.10"])

    def test_query_echo_defaults(self):
        doc = self.lookup(name="www.np.test")
        self.assertEqual(doc["query"], {
            "name": "www.np.test.", "type": "A", "type_code": 1, "class": "IN",
            "server": NS.address, "transport": "udp", "rd": True, "cd": False, "ad": False,
            "do": False, "edns": True, "timeout_ms": 5000, "tries": 2})
        self.assertIsInstance(doc["timing"]["total_ms"], (int, float))
        self.assertGreater(doc["timing"]["total_ms"], 0)
        self.assertEqual(doc["question"][0]["name"], "www.np.test.")
        self.assertIsInstance(doc["id"], int)
        self.assertIsInstance(doc["message_size"], int)
        self.assertGreater(doc["message_size"], 12)

    def test_query_echo_given(self):
        doc = self.lookup(name="v6.np.test.", type="aaaa", server=NS.address, transport="tcp",
                          timeout_ms="2500", tries="3", ad="1")
        self.assertOk(doc)
        self.assertEqual(doc["query"], {
            "name": "v6.np.test.", "type": "AAAA", "type_code": 28, "class": "IN",
            "server": NS.address, "transport": "tcp", "rd": True, "cd": False, "ad": True,
            "do": False, "edns": True, "timeout_ms": 2500, "tries": 3})
        self.assertEqual(self.answer_data(doc), ["2001:db8::1"])

    def test_type_by_number(self):
        doc = self.lookup(name="mx.np.test", type="15")
        self.assertOk(doc)
        self.assertEqual((doc["query"]["type"], doc["query"]["type_code"]), ("MX", 15))
        self.assertEqual(self.answer_data(doc), ["10 mail.np.test.", "20 backup.example.net."])

    def test_server_over_ipv6(self):
        if not NS.v6:
            self.skipTest("no IPv6 loopback")
        server = "[::1]:%d" % NS.port
        doc = self.lookup(name="www.np.test", server=server)
        self.assertOk(doc)
        self.assertEqual(doc["query"]["server"], server)
        self.assertEqual(self.answer_data(doc), ["192.0.2.10"])

    def test_large_txt_retried_over_tcp(self):
        doc = self.lookup(name="bigtxt.np.test", type="TXT")
        self.assertOk(doc)
        self.assertTrue(doc["tc_retried_over_tcp"])
        self.assertEqual(doc["query"]["transport"], "tcp")
        self.assertFalse(doc["flags"]["tc"])
        self.assertEqual(self.answer_data(doc),
                         [" ".join('"%s"' % s for s in dnsfixture.BIG_TXT_STRINGS)])
        self.assertGreater(doc["message_size"], 1232)

    def test_large_txt_over_tcp_from_the_start(self):
        doc = self.lookup(name="bigtxt.np.test", type="TXT", transport="tcp")
        self.assertOk(doc)
        self.assertFalse(doc["tc_retried_over_tcp"])
        self.assertEqual(doc["query"]["transport"], "tcp")
        self.assertEqual(self.answer_data(doc),
                         [" ".join('"%s"' % s for s in dnsfixture.BIG_TXT_STRINGS)])

    def test_unknown_type_by_number(self):
        doc = self.lookup(name="unk.np.test", type="65400")
        self.assertOk(doc)
        self.assertEqual((doc["query"]["type"], doc["query"]["type_code"]), ("TYPE65400", 65400))
        self.assertEqual(doc["answer"], [{"name": "unk.np.test.", "type": "TYPE65400",
                                          "type_code": 65400, "class": "IN", "ttl": 300,
                                          "data": "\\# 4 0A000001"}])

    def test_unknown_type_by_generic_name(self):
        for t in ("TYPE65400", "type65400"):
            doc = self.lookup(name="unk.np.test", type=t)
            self.assertOk(doc)
            self.assertEqual(doc["query"]["type_code"], 65400)
            self.assertEqual(self.answer_data(doc), ["\\# 4 0A000001"])

    def assertTimeout(self, doc):
        self.assertEqual(set(doc), {"query", "timing", "status", "error"})
        self.assertEqual(doc["status"], "error")
        self.assertEqual(doc["error"]["code"], "timeout")
        self.assertIsInstance(doc["error"]["message"], str)
        self.assertTrue(doc["error"]["message"])
        total = doc["timing"]["total_ms"]
        self.assertGreaterEqual(total, 400)
        self.assertLessEqual(total, 1500 * harness.SCALE)

    def test_timeout_udp(self):
        server = "127.0.0.1:%d" % SILENT.port
        t0 = time.monotonic()
        doc = self.lookup(name="www.np.test", server=server, timeout_ms="500")
        self.assertLess(time.monotonic() - t0, 1.5 * harness.SCALE + 1)
        self.assertTimeout(doc)
        self.assertEqual(doc["query"]["server"], server)
        self.assertEqual(doc["query"]["timeout_ms"], 500)

    def closed_udp_port(self):
        """A UDP port on 127.0.0.1 that refuses datagrams, held for the test:
        a socket bound there and connected to itself takes only its own, so
        the kernel answers netprobe's with ICMP port unreachable."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        sock.connect(sock.getsockname())
        self.addCleanup(sock.close)
        return sock.getsockname()[1]

    def assertRefusedAtOnce(self, res):
        self.assertEqual(res["status"], "error", res)
        self.assertEqual(res["error"]["code"], "connect_refused", res)
        self.assertEqual(res["error"]["message"], "the server refused the connection")
        # Ended by the ICMP error, not by the timeout (3000 ms, and at least
        # 3000 / 7 ms for the first try of three).
        self.assertLess(res["timing"]["total_ms"], 400 * harness.SCALE)

    def test_refused_udp_ends_at_once(self):
        server = "127.0.0.1:%d" % self.closed_udp_port()
        for tries in ("1", "3"):
            with self.subTest(tries=tries):
                t0 = time.monotonic()
                doc = self.lookup(name="www.np.test", server=server, timeout_ms="3000",
                                  tries=tries)
                self.assertLess(time.monotonic() - t0, 1.0 * harness.SCALE)
                self.assertEqual(set(doc), {"query", "timing", "status", "error"})
                self.assertRefusedAtOnce(doc)
                self.assertEqual(doc["query"]["server"], server)
                self.assertEqual(doc["query"]["transport"], "udp")

    def test_refused_udp_batch_ends_at_once(self):
        # Many queries leave in one sendmmsg(): the refusal of the first
        # must still end every one of them, on every try. 20 queries and
        # two tries stay within the kernel's ICMP burst (50).
        server = "127.0.0.1:%d" % self.closed_udp_port()
        body = {"queries": ["r%d.np.test" % i for i in range(20)], "server": server,
                "timeout_ms": 3000, "tries": 2}
        t0 = time.monotonic()
        status, _, doc = SVC.json("POST", "/dns", headers={"Content-Type": "application/json"},
                                  body=json.dumps(body).encode(), timeout=30)
        self.assertLess(time.monotonic() - t0, 1.0 * harness.SCALE)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["count"], 20)
        for i, res in enumerate(doc["results"]):
            with self.subTest(i=i):
                self.assertEqual(res["query"]["name"], "r%d.np.test." % i)
                self.assertRefusedAtOnce(res)

    # BUG (service/dns.c, per_try_ms() / chan_new()): over TCP the query gives
    # up after timeout_ms / (2^tries - 1), not timeout_ms: 166 ms of 500 with
    # the default tries=2, 71 ms with tries=3, 16 ms with tries=5. The budget
    # is split for c-ares' doubling retry schedule, but c-ares never resends a
    # query on the same TCP connection (one server: no other try happens), so
    # it ends the query with ARES_ETIMEOUT after the first per-try timeout,
    # long before the guard timer. UDP is right (about 500 ms for any tries).
    def test_timeout_tcp(self):
        # The kernel completes the connect (listen backlog); nothing answers.
        doc = self.lookup(name="www.np.test", server="127.0.0.1:%d" % SILENT.port,
                          timeout_ms="500", transport="tcp")
        self.assertTimeout(doc)
        self.assertEqual(doc["query"]["transport"], "tcp")

    def test_slow_tcp_server_one_try(self):
        # Control for the next test: with tries=1 the whole budget is one try.
        with dnsfixture.SlowTcpDnsServer(0.5) as slow:
            doc = self.lookup(name="slow.np.test", server="127.0.0.1:%d" % slow.port,
                              transport="tcp", timeout_ms=str(1500 * harness.SCALE),
                              tries="1")
        self.assertEqual((doc["status"], doc["rcode"]), ("ok", "NOERROR"), doc.get("error"))
        self.assertEqual(doc["query"]["transport"], "tcp")
        self.assertEqual(self.answer_data(doc), ["192.0.2.77"])
        self.assertGreaterEqual(doc["timing"]["total_ms"], 450)

    # BUG: the same as test_timeout_tcp, seen by a user: a TCP server that
    # answers in 750 ms is reported as a timeout although timeout_ms allows
    # 1500 ms, because with tries=2 only 500 ms (1500 / 3) are ever waited.
    def test_slow_tcp_server_answers_within_budget(self):
        with dnsfixture.SlowTcpDnsServer(0.75 * harness.SCALE) as slow:
            doc = self.lookup(name="slow.np.test", server="127.0.0.1:%d" % slow.port,
                              transport="tcp", timeout_ms=str(1500 * harness.SCALE),
                              tries="2")
        self.assertEqual(doc["status"], "ok", doc.get("error"))
        self.assertEqual(self.answer_data(doc), ["192.0.2.77"])

    def test_query_ids_are_random(self):
        # Each query leaves with its own unpredictable message id
        # (RFC 5452 section 4.3), not the 0 it is built with.
        rec = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rec.bind((HOST, 0))
        rec.settimeout(scaled(5))
        ids = []
        try:
            server = "127.0.0.1:%d" % rec.getsockname()[1]
            for name in ("id1.np.test", "id2.np.test", "id3.np.test"):
                t = threading.Thread(target=self.lookup,
                                     kwargs=dict(name=name, server=server, timeout_ms="300",
                                                 tries="1"))
                t.start()
                data, _ = rec.recvfrom(4096)
                ids.append(struct.unpack(">H", data[:2])[0])
                t.join(scaled(5))
        finally:
            rec.close()
        self.assertEqual(len(ids), 3)
        self.assertGreater(len(set(ids)), 1, "every query had id %d" % ids[0])


# ---- 400 and 403 ----

class ValidationTests(DnsCase):

    def bad(self, param, status=400, **params):
        return self.problem("/dns?" + q(**params), status, param)

    def test_missing_name(self):
        self.bad("name", type="A")
        self.bad("name", name="")

    def test_label_too_long(self):
        doc = self.bad("name", name="a" * 64 + ".np.test")
        self.assertIn("63", doc["detail"])

    def test_name_too_long(self):
        name = ".".join(["a" * 63] * 3 + ["b" * 62])
        self.assertEqual(len(name), 254)
        doc = self.bad("name", name=name)
        self.assertIn("253", doc["detail"])

    def test_idn_needs_punycode(self):
        doc = self.bad("name", name="b\u00fccher.np.test")
        self.assertIn("punycode", doc["detail"])

    def test_bad_type(self):
        self.bad("type", name="www.np.test", type="BOGUS")

    def test_bad_class(self):
        self.bad("class", name="www.np.test", **{"class": "XX"})

    def test_bad_server(self):
        self.bad("server", name="www.np.test", server="not-an-ip")
        doc = self.bad("server", name="www.np.test", server="1.2.3.4:99999")
        self.assertIn("65535", doc["detail"])

    def test_bad_transport(self):
        self.bad("transport", name="www.np.test", transport="sctp")

    def test_bad_timeout(self):
        self.bad("timeout_ms", name="www.np.test", timeout_ms="0")
        self.bad("timeout_ms", name="www.np.test", timeout_ms="30001")
        self.bad("timeout_ms", name="www.np.test", timeout_ms="-5")

    def test_bad_tries(self):
        self.bad("tries", name="www.np.test", tries="9")
        self.bad("tries", name="www.np.test", tries="0")

    def test_do_needs_edns(self):
        self.bad("do", name="www.np.test", do_="1", edns="0")

    def test_bad_bool(self):
        self.bad("rd", name="www.np.test", rd="maybe")

    def test_bad_format(self):
        self.bad("format", name="www.np.test", format="xml")

    def test_metadata_server_denied(self):
        doc = self.bad("server", 403, name="www.np.test", server="169.254.169.254")
        self.assertIn("169.254.169.254", doc["detail"])

    def test_metadata_server_with_port_denied(self):
        self.bad("server", 403, name="www.np.test", server="169.254.169.254:5353")


# ---- the Google / Cloudflare JSON shape ----

class GoogleFormatTests(DnsCase):

    def google(self, headers=None, **params):
        status, hdrs, doc = SVC.get_json("/dns?" + q(**params), headers=headers)
        self.assertEqual(status, 200, doc)
        self.assertEqual(hdrs["Content-Type"], "application/dns-json")
        return doc

    def assertAnswerShape(self, doc):
        self.assertEqual(set(doc), {"Status", "TC", "RD", "RA", "AD", "CD", "Question",
                                    "Answer", "Comment"})
        self.assertEqual(doc["Status"], 0)
        for k in ("TC", "RA", "AD", "CD"):
            self.assertIs(doc[k], False, k)
        self.assertIs(doc["RD"], True)
        self.assertEqual(doc["Question"], [{"name": "www.np.test.", "type": 1}])
        self.assertEqual(doc["Answer"], [{"name": "www.np.test.", "type": 1, "TTL": 300,
                                          "data": "192.0.2.10"}])
        self.assertIsInstance(doc["Comment"], str)

    def test_format_doh(self):
        self.assertAnswerShape(self.google(name="www.np.test", type="A", format="doh"))

    def test_accept_dns_json(self):
        self.assertAnswerShape(self.google(headers={"Accept": "application/dns-json"},
                                           name="www.np.test", type="A"))

    def test_types_are_numbers(self):
        doc = self.google(name="c1.np.test", format="doh")
        self.assertEqual(doc["Answer"], [
            {"name": "c1.np.test.", "type": 5, "TTL": 300, "data": "c2.np.test."},
            {"name": "c2.np.test.", "type": 5, "TTL": 300, "data": "c3.np.test."},
            {"name": "c3.np.test.", "type": 1, "TTL": 300, "data": "192.0.2.33"},
        ])
        doc = self.google(name="mx.np.test", type="MX", format="doh")
        self.assertEqual([(a["type"], a["data"]) for a in doc["Answer"]],
                         [(15, "10 mail.np.test."), (15, "20 backup.example.net.")])

    def test_nxdomain(self):
        doc = self.google(name="nothere.np.test", format="doh")
        self.assertEqual(set(doc), {"Status", "TC", "RD", "RA", "AD", "CD", "Question",
                                    "Authority", "Comment"})
        self.assertEqual(doc["Status"], 3)
        self.assertEqual(doc["Question"], [{"name": "nothere.np.test.", "type": 1}])
        self.assertEqual(doc["Authority"], [{
            "name": "np.test.", "type": 6, "TTL": dnsfixture.SOA_MINIMUM,
            "data": "ns1.np.test. hostmaster.np.test. 2024060101 7200 900 1209600 60"}])

    def test_upstream_timeout_is_servfail(self):
        doc = self.google(name="www.np.test", format="doh",
                          server="127.0.0.1:%d" % SILENT.port, timeout_ms="300")
        self.assertEqual(set(doc), {"Status", "TC", "RD", "RA", "AD", "CD", "Question",
                                    "Comment"})
        self.assertEqual(doc["Status"], 2)
        self.assertEqual(doc["Question"], [{"name": "www.np.test.", "type": 1}])
        self.assertIn("timeout", doc["Comment"])

    def test_native_format_overrides_accept(self):
        doc = self.lookup(headers={"Accept": "application/dns-json"}, name="www.np.test",
                          format="native")
        self.assertOk(doc)


# ---- POST /dns batches ----

def batch_items():
    """50 queries of five kinds -> (items, [(name, type, transport, rcode, data)])."""
    items, want = [], []
    for i in range(50):
        k = i % 5
        if k == 0:    # bare string: every top-level default (type MX, rd off)
            items.append("mx.np.test")
            want.append(("mx.np.test.", "MX", "udp", "NOERROR",
                         ["10 mail.np.test.", "20 backup.example.net."]))
        elif k == 1:
            items.append({"name": "www.np.test", "type": "A"})
            want.append(("www.np.test.", "A", "udp", "NOERROR", ["192.0.2.10"]))
        elif k == 2:
            items.append({"name": "txt.np.test.", "type": "TXT"})
            want.append(("txt.np.test.", "TXT", "udp", "NOERROR", ['"hello world"']))
        elif k == 3:  # object without a type: the top-level MX
            items.append({"name": "nothere%d.np.test" % i})
            want.append(("nothere%d.np.test." % i, "MX", "udp", "NXDOMAIN", []))
        else:
            items.append({"name": "v6.np.test", "type": "AAAA", "transport": "tcp"})
            want.append(("v6.np.test.", "AAAA", "tcp", "NOERROR", ["2001:db8::1"]))
    return items, want


JSON_HEADERS = {"Content-Type": "application/json"}


class BatchTests(DnsCase):

    @classmethod
    def setUpClass(cls):
        cls.small = Service(["--dns-server", NS.address, "--dns-batch-max", "5"])
        cls.small.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.small.stop()
        cls.small.close()
        if rc != 0:
            raise AssertionError("netprobe --dns-batch-max 5 exited with %r" % rc)

    def post(self, body, svc=None):
        svc = svc or SVC
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return svc.json("POST", "/dns", headers=JSON_HEADERS, body=data, timeout=30)

    def test_fifty_mixed_queries_in_order(self):
        items, want = batch_items()
        status, headers, doc = self.post({"queries": items, "type": "MX", "rd": False,
                                          "timeout_ms": 3000})
        self.assertEqual(status, 200, doc)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(set(doc), {"count", "results"})
        self.assertEqual(doc["count"], 50)
        self.assertEqual(len(doc["results"]), 50)
        for i, (res, (name, rtype, transport, rcode, datas)) in enumerate(
                zip(doc["results"], want)):
            with self.subTest(i=i, name=name):
                self.assertOk(res, rcode)
                self.assertEqual(res["query"]["name"], name)
                self.assertEqual(res["query"]["type"], rtype)
                self.assertEqual(res["query"]["transport"], transport)
                self.assertFalse(res["query"]["rd"])
                self.assertFalse(res["flags"]["rd"])
                self.assertEqual(res["query"]["timeout_ms"], 3000)
                self.assertEqual(res["question"][0]["name"], name)
                self.assertEqual(self.answer_data(res), datas)

    def test_results_in_order_when_the_first_finishes_last(self):
        # Results are written as they finish, in order: the answers of
        # items 1..9 (in well under a millisecond) wait for item 0, which
        # goes to a server that never answers and times out after 400 ms.
        silent = "127.0.0.1:%d" % SILENT.port
        items = [{"name": "www.np.test", "server": silent, "timeout_ms": 400, "tries": 1}]
        items += ["www.np.test"] * 4 + [{"name": "np.test", "type": "SOA"}] + ["www.np.test"] * 4
        t0 = time.monotonic()
        status, _, doc = self.post({"queries": items})
        elapsed = time.monotonic() - t0
        self.assertEqual(status, 200, doc)
        self.assertGreaterEqual(elapsed, 0.4)
        self.assertEqual(doc["count"], 10)
        self.assertEqual(doc["results"][0]["status"], "error")
        self.assertEqual(doc["results"][0]["error"]["code"], "timeout")
        self.assertEqual(doc["results"][0]["query"]["server"], silent)
        for i, res in enumerate(doc["results"][1:], 1):
            with self.subTest(i=i):
                self.assertOk(res)
                self.assertEqual(res["query"]["type"], "SOA" if i == 5 else "A")
                self.assertLess(res["timing"]["total_ms"], 400)

    def test_invalid_item_names_its_index(self):
        items, _ = batch_items()
        items[7] = {"name": "www.np.test", "type": "BOGUS"}
        answer = self.post({"queries": items})
        self.assertProblem(answer, 400, "/dns", param="queries[7].type")

    def test_invalid_item_name(self):
        items, _ = batch_items()
        items[12] = {"name": "a" * 64 + ".np.test"}
        self.assertProblem(self.post({"queries": items}), 400, "/dns", param="queries[12].name")

    def test_item_of_wrong_kind(self):
        self.assertProblem(self.post({"queries": ["www.np.test", 42]}), 400, "/dns",
                           param="queries[1]")

    def test_bad_default_names_it(self):
        self.assertProblem(self.post({"queries": ["www.np.test"], "type": "NOPE"}), 400, "/dns",
                           param="type")

    def test_batch_max(self):
        status, _, doc = self.post({"queries": ["www.np.test"] * 5}, svc=self.small)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["count"], 5)
        answer = self.post({"queries": ["www.np.test"] * 6}, svc=self.small)
        self.assertProblem(answer, 400, "/dns", param="queries")

    def test_empty_or_missing_queries(self):
        self.assertProblem(self.post({"queries": []}), 400, "/dns", param="queries")
        self.assertProblem(self.post({"name": "www.np.test"}), 400, "/dns", param="queries")

    def test_non_json_body(self):
        self.assertProblem(self.post(b"queries=www.np.test"), 400, "/dns", param="body")
        self.assertProblem(self.post(b"[1,2]"), 400, "/dns", param="body")

    def test_metadata_server_in_item(self):
        answer = self.post({"queries": ["www.np.test",
                                        {"name": "www.np.test", "server": "169.254.169.254"}]})
        self.assertProblem(answer, 403, "/dns", param="queries[1].server")

    def test_google_format_batch(self):
        status, _, doc = self.post({"queries": ["www.np.test", "nothere.np.test"],
                                    "format": "doh"})
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["count"], 2)
        self.assertEqual([r["Status"] for r in doc["results"]], [0, 3])
        self.assertEqual(doc["results"][0]["Answer"][0]["data"], "192.0.2.10")


# ---- servers= comparison ----

# ---- EDNS options: nsid, subnet, udp_size ----

def opt_of(query):
    """(udp_size, [(code, value)]) of a query's OPT record, or None."""
    return dnsfixture.EdnsEchoServer.opt_options(query)


def dig_query(*args):
    """The query message dig sends with args, caught by a UDP socket that
    never answers (dig gives up after one try of one second)."""
    rec = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rec.bind((HOST, 0))
    rec.settimeout(scaled(5))
    try:
        proc = subprocess.Popen([dnsfixture.DIG, "@127.0.0.1", "-p", str(rec.getsockname()[1]),
                                 "+tries=1", "+time=1"] + list(args) + ["www.np.test"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            data, _ = rec.recvfrom(4096)
        finally:
            proc.wait(scaled(10))
    finally:
        rec.close()
    return data


NSID_OPTION = {"code": 3, "name": "NSID", "data_hex": dnsfixture.NSID_BYTES.hex().upper(),
               "text": dnsfixture.NSID_BYTES.decode("ascii")}


class EdnsOptionTests(DnsCase):
    """nsid=1 (RFC 5001), subnet= (RFC 7871 Client Subnet) and udp_size=:
    what goes on the wire (against dig's bytes), what comes back decoded,
    and every 400."""

    @classmethod
    def setUpClass(cls):
        cls.echo = dnsfixture.EdnsEchoServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.echo.stop()

    def post(self, body):
        return SVC.json("POST", "/dns", headers=JSON_HEADERS, body=json.dumps(body).encode(),
                        timeout=30)

    def test_nsid_from_nsd(self):
        doc = self.lookup(name="www.np.test", nsid="1")
        self.assertEqual(doc["status"], "ok", doc)
        self.assertEqual(self.answer_data(doc), ["192.0.2.10"])
        self.assertEqual(doc["edns"]["options"], [NSID_OPTION])
        self.assertEqual(set(doc["query"]), QUERY_KEYS | {"nsid"})
        self.assertIs(doc["query"]["nsid"], True)

    def test_nsid_as_dig_shows_it(self):
        doc = self.lookup(name="www.np.test", nsid="true")
        r = subprocess.run([dnsfixture.DIG, "@127.0.0.1", "-p", str(NS.port), "+tries=1",
                            "+time=2", "+norec", "+nsid", "www.np.test"],
                           capture_output=True, text=True, timeout=10)
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("; NSID: ")]
        self.assertEqual(len(line), 1, r.stdout)
        # "; NSID: 6e 73 31 ... ("ns1 "np\test"")"
        hexpart, _, text = line[0][len("; NSID: "):].partition(" (")
        opt = doc["edns"]["options"][0]
        self.assertEqual(opt["data_hex"], hexpart.replace(" ", "").upper())
        self.assertEqual('"%s")' % opt["text"], text)

    def test_no_nsid_unless_asked(self):
        for params in ({}, {"nsid": "0"}):
            doc = self.lookup(name="www.np.test", **params)
            self.assertOk(doc)
            self.assertEqual(doc["edns"]["options"], [])
            self.assertNotIn("nsid", doc["query"])

    def test_nsid_on_the_wire(self):
        data = self.capture_query(name="www.np.test", nsid="1")
        self.assertEqual(data[-15:], b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 4)
                         + b"\x00\x03\x00\x00")
        self.assertEqual(opt_of(data)[1], opt_of(dig_query("+nsid", "+nocookie"))[1])

    def test_udp_size_on_the_wire(self):
        for size in (512, 4096, 65535):
            with self.subTest(size=size):
                data = self.capture_query(name="www.np.test", udp_size=str(size))
                self.assertEqual(data[-11:], b"\x00" + struct.pack(">HHIH", 41, size, 0, 0))
                if size != 65535:  # dig 9.18 sends 1232 for +bufsize=65535
                    self.assertEqual(opt_of(data),
                                     opt_of(dig_query("+bufsize=%d" % size, "+nocookie")))

    def test_udp_size_echoed(self):
        doc = self.lookup(name="www.np.test", udp_size="4096", do_="1")
        self.assertEqual(doc["status"], "ok", doc)
        self.assertEqual(doc["query"]["udp_size"], 4096)
        self.assertTrue(doc["query"]["do"])
        self.assertEqual(set(doc["query"]), QUERY_KEYS | {"udp_size"})

    def test_subnet_on_the_wire_as_dig_sends_it(self):
        # subnet -> the ECS option's bytes (code 8, length, FAMILY, SOURCE,
        # SCOPE 0, ADDRESS cut to the prefix with the rest zeroed).
        cases = {
            "192.0.2.0/24": b"\x00\x01\x18\x00\xc0\x00\x02",
            "192.0.2.129/25": b"\x00\x01\x19\x00\xc0\x00\x02\x80",
            "10.1.2.3": b"\x00\x01\x20\x00\x0a\x01\x02\x03",
            "2001:db8::1/33": b"\x00\x02\x21\x00\x20\x01\x0d\xb8\x00",
            "2001:db8:ffff::/48": b"\x00\x02\x30\x00\x20\x01\x0d\xb8\xff\xff",
            "0/0": b"\x00\x01\x00\x00",
            "0": b"\x00\x01\x00\x00",
            "0.0.0.0/0": b"\x00\x01\x00\x00",
            "::/0": b"\x00\x02\x00\x00",
        }
        for subnet, ecs in cases.items():
            with self.subTest(subnet=subnet):
                data = self.capture_query(name="www.np.test", subnet=subnet)
                self.assertEqual(opt_of(data), (1232, [(8, ecs)]))
                self.assertEqual(data[-(len(ecs) + 4):], struct.pack(">HH", 8, len(ecs)) + ecs)
                if subnet != "::/0":  # dig 9.18 sends ::/0 as IPv4 0/0
                    self.assertEqual(opt_of(data)[1],
                                     opt_of(dig_query("+subnet=" + subnet, "+nocookie"))[1])

    def test_all_options_together_on_the_wire(self):
        data = self.capture_query(name="www.np.test", nsid="1", subnet="198.51.100.0/24",
                                  udp_size="1400", do_="1")
        self.assertEqual(data[-26:], b"\x00" + struct.pack(">HHIH", 41, 1400, 0x8000, 4 + 11)
                         + b"\x00\x03\x00\x00"
                         + b"\x00\x08\x00\x07\x00\x01\x18\x00\xc6\x33\x64")

    def test_subnet_decoded_in_the_answer(self):
        server = "127.0.0.1:%d" % self.echo.port
        doc = self.lookup(name="www.np.test", server=server, subnet="192.0.2.129/25",
                          nsid="1")
        self.assertEqual(doc["status"], "ok", doc)
        self.assertEqual(self.answer_data(doc), [dnsfixture.EdnsEchoServer.ECHO_A])
        self.assertEqual(doc["query"]["subnet"], "192.0.2.128/25")
        self.assertIs(doc["query"]["nsid"], True)
        self.assertEqual(doc["edns"]["options"], [
            # Not printable: hex only, never raw bytes as text.
            {"code": 3, "name": "NSID", "data_hex": "006964FF"},
            {"code": 8, "name": "CLIENT-SUBNET", "data_hex": "00011919C0000280",
             "subnet": "192.0.2.128/25", "scope": 25}])
        doc = self.lookup(name="www.np.test", server=server, subnet="2001:db8::/32")
        self.assertEqual(doc["query"]["subnet"], "2001:db8::/32")
        self.assertEqual(doc["edns"]["options"], [
            {"code": 8, "name": "CLIENT-SUBNET", "data_hex": "0002202020010DB8",
             "subnet": "2001:db8::/32", "scope": 32}])

    def test_empty_subnet_sends_no_option(self):
        data = self.capture_query(name="www.np.test", subnet="")
        self.assertEqual(opt_of(data), (1232, []))

    def test_bad_subnet(self):
        for subnet in ("nope", "192.0.2.0/33", "2001:db8::/129", "192.0.2.0/x", "192.0.2.0/",
                       "/24", "0/8", "192.0.2.0/-1", "192.0.2.0/0024", "fe80::1%lo/64",
                       "192.0.2.0/24/1", "192.0.2.0 /24"):
            with self.subTest(subnet=subnet):
                self.problem("/dns?" + q(name="www.np.test", subnet=subnet), 400, "subnet")
        doc = self.problem("/dns?" + q(name="www.np.test", subnet="192.0.2.0/40"), 400, "subnet")
        self.assertIn("32", doc["detail"])

    def test_bad_udp_size(self):
        for size in ("0", "100", "511", "65536", "-1", "big", "4096.5"):
            with self.subTest(size=size):
                self.problem("/dns?" + q(name="www.np.test", udp_size=size), 400, "udp_size")
        doc = self.problem("/dns?" + q(name="www.np.test", udp_size="511"), 400, "udp_size")
        self.assertIn("512", doc["detail"])

    def test_options_need_edns(self):
        for key, value in (("nsid", "1"), ("subnet", "192.0.2.0/24"), ("udp_size", "4096")):
            with self.subTest(key=key):
                doc = self.problem("/dns?" + q(name="www.np.test", edns="0", **{key: value}),
                                   400, key)
                self.assertIn("edns", doc["detail"])
        # Off is fine without EDNS.
        doc = self.lookup(name="www.np.test", edns="0", nsid="0")
        self.assertEqual(doc["status"], "ok")
        self.assertNotIn("edns", doc)

    def test_bad_nsid(self):
        self.problem("/dns?" + q(name="www.np.test", nsid="maybe"), 400, "nsid")

    def test_batch_items_and_defaults(self):
        status, _h, doc = self.post({"nsid": True, "udp_size": 4096, "queries": [
            "www.np.test",
            {"name": "txt.np.test", "type": "TXT", "nsid": False},
            {"name": "mx.np.test", "type": "MX", "subnet": "192.0.2.0/24", "udp_size": "1232"},
        ]})
        self.assertEqual(status, 200, doc)
        first, second, third = doc["results"]
        self.assertEqual(first["edns"]["options"], [NSID_OPTION])
        self.assertEqual((first["query"]["nsid"], first["query"]["udp_size"]), (True, 4096))
        self.assertEqual(second["edns"]["options"], [])
        self.assertNotIn("nsid", second["query"])
        self.assertEqual(third["edns"]["options"], [NSID_OPTION])
        self.assertEqual((third["query"]["subnet"], third["query"]["udp_size"]),
                         ("192.0.2.0/24", 1232))
        self.assertEqual(self.answer_data(third), ["10 mail.np.test.", "20 backup.example.net."])

    def test_batch_errors_name_the_item(self):
        cases = [
            ({"queries": ["www.np.test", {"name": "www.np.test", "subnet": "1.2.3.4/40"}]},
             "queries[1].subnet"),
            ({"queries": [{"name": "www.np.test", "subnet": 24}]}, "queries[0].subnet"),
            ({"queries": ["www.np.test", "txt.np.test", {"name": "www.np.test",
                                                          "udp_size": 100}]},
             "queries[2].udp_size"),
            ({"queries": [{"name": "www.np.test", "udp_size": True}]}, "queries[0].udp_size"),
            ({"queries": [{"name": "www.np.test", "nsid": "perhaps"}]}, "queries[0].nsid"),
            # A default that needs EDNS, an item that turns it off.
            ({"nsid": True, "queries": [{"name": "www.np.test", "edns": False}]},
             "queries[0].nsid"),
            ({"subnet": "192.0.2.0/24", "queries": ["a.np.test", {"name": "b.np.test",
                                                                  "edns": False}]},
             "queries[1].subnet"),
            ({"edns": False, "queries": [{"name": "www.np.test", "udp_size": 4096}]},
             "queries[0].udp_size"),
            # Bad defaults name the top-level field.
            ({"subnet": "nope", "queries": ["www.np.test"]}, "subnet"),
            ({"edns": False, "nsid": True, "queries": ["www.np.test"]}, "nsid"),
        ]
        for body, param in cases:
            with self.subTest(param=param, body=body):
                self.assertProblem(self.post(body), 400, "/dns", param=param)


class CompareTests(DnsCase):

    @classmethod
    def setUpClass(cls):
        cls.ns2 = dnsfixture.NsdServer(variant=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.ns2.stop()

    def compare(self, servers, **params):
        status, headers, doc = SVC.get_json("/dns?" + q(servers=servers, **params))
        self.assertEqual(status, 200, doc)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(set(doc), {"results", "agree"})
        return doc

    def test_same_server_twice_agrees(self):
        doc = self.compare("%s,%s" % (NS.address, NS.address), name="www.np.test")
        self.assertIs(doc["agree"], True)
        self.assertEqual(len(doc["results"]), 2)
        for res in doc["results"]:
            self.assertOk(res)
            self.assertEqual(res["query"]["server"], NS.address)
            self.assertEqual(self.answer_data(res), ["192.0.2.10"])

    def test_different_answers_disagree(self):
        doc = self.compare("%s,%s" % (NS.address, self.ns2.address), name="www.np.test")
        self.assertIs(doc["agree"], False)
        self.assertEqual([r["query"]["server"] for r in doc["results"]],
                         [NS.address, self.ns2.address])
        self.assertEqual([self.answer_data(r) for r in doc["results"]],
                         [[dnsfixture.WWW_A], [dnsfixture.VARIANT_WWW_A]])

    def test_same_data_elsewhere_agrees(self):
        doc = self.compare("%s,%s" % (NS.address, self.ns2.address), name="mx.np.test",
                           type="MX")
        self.assertIs(doc["agree"], True)

    def test_timeout_disagrees(self):
        doc = self.compare("%s,127.0.0.1:%d" % (NS.address, SILENT.port), name="www.np.test",
                           timeout_ms="300")
        self.assertIs(doc["agree"], False)
        self.assertEqual([r["status"] for r in doc["results"]], ["ok", "error"])

    def test_metadata_server_denied(self):
        self.problem("/dns?" + q(name="www.np.test",
                                 servers="%s,169.254.169.254" % NS.address), 403, "servers")

    def test_bad_servers(self):
        self.problem("/dns?" + q(name="www.np.test", servers="%s,nope" % NS.address), 400,
                     "servers")
        self.problem("/dns?" + q(name="www.np.test", servers=NS.address, server=NS.address),
                     400, "servers")


# ---- /rdns ----

class RdnsTests(DnsCase):

    def rdns(self, **params):
        status, headers, doc = SVC.get_json("/rdns?" + q(**params))
        self.assertEqual(status, 200, doc)
        self.assertEqual(headers["Content-Type"], "application/json")
        return doc

    def test_ipv4_found(self):
        doc = self.rdns(ip="127.0.0.10")
        self.assertEqual(set(doc), {"ip", "family", "ptr_name", "names", "status", "rcode",
                                    "lookup"})
        self.assertEqual(doc["ip"], "127.0.0.10")
        self.assertEqual(doc["family"], "ipv4")
        self.assertEqual(doc["ptr_name"], "10.0.0.127.in-addr.arpa.")
        self.assertEqual(doc["names"], ["good.np.test."])
        self.assertEqual((doc["status"], doc["rcode"]), ("ok", "NOERROR"))
        self.assertEqual(doc["lookup"]["query"]["type"], "PTR")
        self.assertEqual(doc["lookup"]["query"]["server"], NS.address)

    def test_ipv4_two_names(self):
        doc = self.rdns(ip="127.0.0.12", confirm="1")
        self.assertEqual(doc["names"], ["one.np.test.", "two.np.test."])
        self.assertIs(doc["confirmation"]["confirmed"], True)
        self.assertEqual([(n["name"], n["confirmed"]) for n in doc["confirmation"]["names"]],
                         [("one.np.test.", True), ("two.np.test.", True)])

    def test_ipv4_confirmed(self):
        doc = self.rdns(ip="127.0.0.10", confirm="1")
        self.assertEqual(doc["confirmation"], {"confirmed": True, "names": [
            {"name": "good.np.test.", "addresses": ["127.0.0.10"], "confirmed": True,
             "rcode": "NOERROR"}]})

    def test_ipv4_not_confirmed(self):
        doc = self.rdns(ip="127.0.0.11", confirm="1")
        self.assertEqual(doc["names"], ["bad.np.test."])
        self.assertEqual(doc["confirmation"], {"confirmed": False, "names": [
            {"name": "bad.np.test.", "addresses": ["127.0.0.99"], "confirmed": False,
             "rcode": "NOERROR"}]})

    def test_ipv6_found_in_nibble_form(self):
        doc = self.rdns(ip="2001:0db8:0:0::0001")
        self.assertEqual(doc["ip"], "2001:db8::1")
        self.assertEqual(doc["family"], "ipv6")
        self.assertEqual(doc["ptr_name"],
                         "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.")
        self.assertEqual(doc["ptr_name"], dnsfixture.reverse_name("2001:db8::1"))
        self.assertEqual(doc["names"], ["v6.np.test."])
        self.assertEqual(doc["rcode"], "NOERROR")

    def test_ipv6_confirmed_and_not(self):
        doc = self.rdns(ip="2001:db8::1", confirm="1")
        self.assertEqual(doc["confirmation"], {"confirmed": True, "names": [
            {"name": "v6.np.test.", "addresses": ["2001:db8::1"], "confirmed": True,
             "rcode": "NOERROR"}]})
        doc = self.rdns(ip="2001:db8::2", confirm="1")
        self.assertEqual(doc["confirmation"], {"confirmed": False, "names": [
            {"name": "v6bad.np.test.", "addresses": ["2001:db8::99"], "confirmed": False,
             "rcode": "NOERROR"}]})

    def test_no_ptr(self):
        for ip in (dnsfixture.REV4_NONE, dnsfixture.REV6_NONE):
            with self.subTest(ip=ip):
                doc = self.rdns(ip=ip, confirm="1")
                self.assertEqual(doc["status"], "ok")
                self.assertEqual(doc["rcode"], "NXDOMAIN")
                self.assertEqual(doc["names"], [])
                self.assertEqual(doc["confirmation"], {"confirmed": False, "names": []})

    def test_bad_ip(self):
        for ip in ("not-an-ip", "300.1.2.3", "127.0.0.1/8", ""):
            with self.subTest(ip=ip):
                self.problem("/rdns?" + q(ip=ip), 400, "ip")
        self.problem("/rdns", 400, "ip")

    def test_rdns_timeout(self):
        doc = self.rdns(ip="127.0.0.10", server="127.0.0.1:%d" % SILENT.port, timeout_ms="300")
        self.assertEqual(doc["status"], "error")
        self.assertEqual(doc["error"]["code"], "timeout")
        self.assertEqual(doc["names"], [])


# ---- RFC 8484 /dns-query ----

DOH = "application/dns-message"


def build_query(name, qtype=1, qid=0xBEEF, flags=0x0100):
    """A DNS query message built by hand: header, one question."""
    wire = b"".join(bytes([len(label)]) + label.encode("ascii")
                    for label in name.rstrip(".").split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0) + wire + struct.pack(">HH", qtype, 1)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def read_name(msg, off):
    labels, end, hops = [], None, 0
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = (n & 0x3F) << 8 | msg[off + 1]
            hops += 1
            if hops > 64:
                raise ValueError("compression loop")
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode("ascii"))
        off += n
    return ".".join(labels) + ".", end if end is not None else off


def parse_message(msg):
    """A DNS message -> dict with id, flags, rcode, question and sections."""
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    off, question, sections = 12, [], []
    for _ in range(qd):
        name, off = read_name(msg, off)
        question.append((name,) + struct.unpack(">HH", msg[off:off + 4]))
        off += 4
    for count in (an, ns, ar):
        recs = []
        for _ in range(count):
            name, off = read_name(msg, off)
            rtype, rclass, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
            off += 10
            recs.append({"name": name, "type": rtype, "class": rclass, "ttl": ttl,
                         "rdata": msg[off:off + rdlen]})
            off += rdlen
        sections.append(recs)
    if off != len(msg):
        raise ValueError("%d bytes after the last record" % (len(msg) - off))
    return {"id": qid, "qr": flags >> 15, "aa": (flags >> 10) & 1, "tc": (flags >> 9) & 1,
            "rd": (flags >> 8) & 1, "rcode": flags & 0xF, "question": question,
            "answer": sections[0], "authority": sections[1], "additional": sections[2]}


class DohTests(DnsCase):

    def assertWwwAnswer(self, status, headers, body, qid=0xBEEF):
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(headers["Content-Type"], DOH)
        self.assertEqual(headers["Cache-Control"], "max-age=300")
        m = parse_message(body)
        self.assertEqual(m["id"], qid)
        self.assertEqual((m["qr"], m["aa"], m["tc"], m["rd"], m["rcode"]), (1, 1, 0, 1, 0))
        self.assertEqual(m["question"], [("www.np.test.", 1, 1)])
        self.assertEqual([(a["name"], a["type"], a["class"], a["ttl"], a["rdata"])
                          for a in m["answer"]],
                         [("www.np.test.", 1, 1, 300, socket.inet_aton(dnsfixture.WWW_A))])

    def test_get(self):
        self.assertWwwAnswer(*SVC.get("/dns-query?dns=" + b64url(build_query("www.np.test")),
                                      headers={"Accept": DOH}))

    def test_get_with_padding(self):
        data = base64.urlsafe_b64encode(build_query("www.np.test", qid=0x1234)).decode()
        self.assertWwwAnswer(*SVC.get("/dns-query?dns=" + data), qid=0x1234)

    def test_post(self):
        self.assertWwwAnswer(*SVC.post("/dns-query", body=build_query("www.np.test"),
                                       headers={"Content-Type": DOH, "Accept": DOH}))

    def test_nxdomain_max_age_is_soa_minimum(self):
        status, headers, body = SVC.post("/dns-query", body=build_query("nothere.np.test"),
                                         headers={"Content-Type": DOH})
        self.assertEqual(status, 200)
        m = parse_message(body)
        self.assertEqual((m["id"], m["rcode"], m["answer"]), (0xBEEF, 3, []))
        self.assertEqual([a["type"] for a in m["authority"]], [6])
        self.assertEqual(headers["Cache-Control"], "max-age=%d" % dnsfixture.SOA_MINIMUM)

    def test_large_answer_comes_whole(self):
        status, headers, body = SVC.post("/dns-query", body=build_query("bigtxt.np.test", 16),
                                         headers={"Content-Type": DOH})
        self.assertEqual(status, 200)
        m = parse_message(body)
        self.assertEqual(m["tc"], 0)
        self.assertEqual(len(m["answer"]), 1)
        rdata = m["answer"][0]["rdata"]
        want = b"".join(bytes([len(s)]) + s.encode() for s in dnsfixture.BIG_TXT_STRINGS)
        self.assertEqual(rdata, want)

    def test_max_age_follows_ttl(self):
        for name, age in (("ttl0.np.test", 0), ("ttlmax.np.test", 2147483647),
                          ("c1.np.test", 300)):
            with self.subTest(name=name):
                status, headers, body = SVC.get("/dns-query?dns=" + b64url(build_query(name)))
                self.assertEqual(status, 200)
                self.assertEqual(headers["Cache-Control"], "max-age=%d" % age)
                self.assertEqual(parse_message(body)["id"], 0xBEEF)

    def test_wrong_content_type(self):
        status, headers, doc = SVC.json("POST", "/dns-query", body=build_query("www.np.test"),
                                        headers={"Content-Type": "application/json"})
        self.assertEqual(status, 415)
        self.assertEqual(headers["Content-Type"], "application/problem+json")
        self.assertEqual(doc["status"], 415)
        self.assertEqual(doc["type"], "https://netprobe.dev/problems/unsupported-media-type")

    def test_garbage(self):
        for path in ("/dns-query?dns=%21%21%21%21", "/dns-query?dns=AAAA", "/dns-query",
                     "/dns-query?dns="):
            with self.subTest(path=path):
                self.problem(path, 400, "dns")
        self.problem("/dns-query", 400, "dns", method="POST", body=b"\x01\x02garbage",
                     headers={"Content-Type": DOH})

    def test_response_as_query(self):
        resp = build_query("www.np.test", flags=0x8100)
        self.problem("/dns-query?dns=" + b64url(resp), 400, "dns")
        self.problem("/dns-query", 400, "dns", method="POST", body=resp,
                     headers={"Content-Type": DOH})


# ---- real DoH clients over HTTPS ----

class DohClientTests(ServiceTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="netprobe-doh-")
        cls.tls = harness.make_tls_material(cls.tmp.name)
        # kdig speaks DoH over HTTP/2 only: it asks the --doh-port listener.
        cls.doh_port = harness.free_port()
        cls.svc = Service(["--dns-server", NS.address, "--doh-port", str(cls.doh_port)],
                          tls=cls.tls)
        cls.svc.start()
        cls.web = harness.WebPage(
            ("fetched through netprobe DoH %d\n" % os.getpid()).encode()).start()

    @classmethod
    def tearDownClass(cls):
        cls.web.stop()
        rc = cls.svc.stop()
        cls.svc.close()
        cls.tmp.cleanup()
        if rc != 0:
            raise AssertionError("netprobe with TLS exited with %r" % rc)

    def run_tool(self, args):
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        try:
            return subprocess.run(args, capture_output=True, text=True, env=env,
                                  timeout=scaled(20), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("%s did not finish: %s" % (args, e.stderr)) from None

    def test_doh_over_https_answers(self):
        status, headers, body = self.svc.get("/dns-query?dns=" + b64url(build_query("web.np.test")))
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], DOH)
        m = parse_message(body)
        self.assertEqual([a["rdata"] for a in m["answer"]], [socket.inet_aton(dnsfixture.WEB_A)])

    @unittest.skipIf(shutil.which("curl") is None, "curl is not installed")
    def test_curl_resolves_through_doh(self):
        port = self.web.port
        r = self.run_tool(["curl", "-sS", "--noproxy", "*", "--max-time", str(scaled(15)),
                           "--doh-insecure", "--doh-url",
                           "https://127.0.0.1:%d/dns-query" % self.svc.port,
                           "http://web.np.test:%d/" % port])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.encode(), self.web.body)
        self.assertIn("web.np.test:%d" % port, self.web.hosts)

    @unittest.skipIf(shutil.which("curl") is None, "curl is not installed")
    def test_curl_verifies_doh_server(self):
        # With the test CA, curl verifies the DoH server's certificate.
        port = self.web.port
        r = self.run_tool(["curl", "-sS", "--noproxy", "*", "--max-time", str(scaled(15)),
                           "--cacert", self.tls["ca_cert"], "--doh-url",
                           "https://127.0.0.1:%d/dns-query" % self.svc.port,
                           "http://web.np.test:%d/" % port])
        if r.returncode == 60 or "certificate" in r.stderr:
            self.skipTest("this curl does not apply --cacert to the DoH server: %s" % r.stderr)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.encode(), self.web.body)

    # kdig 3.2's DoH client (libnghttp2) speaks only HTTP/2: it offers ALPN
    # "h2" alone and sends the HTTP/2 preface whatever the server selects.
    # libmicrohttpd (--port) serves HTTP/1.1 only, so kdig asks the HTTP/2
    # listener on --doh-port (service/h2.c). RFC 8484 5.2 recommends HTTP/2
    # as the minimum. curl (which falls back to HTTP/1.1) works on --port, above.
    @unittest.skipIf(shutil.which("kdig") is None, "kdig is not installed")
    def test_kdig_https_post_and_get(self):
        for method in ([], ["+https-get"]):
            with self.subTest(method=method or "POST"):
                r = self.run_tool(["kdig", "@127.0.0.1", "-p", str(self.doh_port), "+https",
                                   "+tls-ca=%s" % self.tls["ca_cert"], "+tls-hostname=localhost",
                                   "+timeout=%d" % scaled(5), "+retry=0"] + method +
                                  ["+short", "web.np.test", "A"])
                self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
                self.assertEqual(r.stdout.split(), [dnsfixture.WEB_A], r.stderr + r.stdout)

    @unittest.skipIf(shutil.which("kdig") is None, "kdig is not installed")
    def test_kdig_full_answer(self):
        # As test_kdig_https_post_and_get: kdig needs HTTP/2, on --doh-port.
        r = self.run_tool(["kdig", "@127.0.0.1", "-p", str(self.doh_port), "+https", "+tls",
                           "+timeout=%d" % scaled(5), "+retry=0", "mx.np.test", "MX"])
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("status: NOERROR", r.stdout)
        answer = [ln.split() for ln in r.stdout.splitlines()
                  if ln.startswith("mx.np.test.") and "MX" in ln.split()]
        self.assertEqual([a[-2:] for a in answer],
                         [["10", "mail.np.test."], ["20", "backup.example.net."]])


class DohUpstreamFailureTests(ServiceTestCase):

    def test_upstream_timeout_is_servfail(self):
        svc = self.start_service(["--dns-server", "127.0.0.1:%d" % SILENT.port,
                                  "--default-timeout-ms", "300"])
        query = build_query("www.np.test", qid=0x4242)
        status, headers, body = svc.post("/dns-query", body=query,
                                         headers={"Content-Type": DOH})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], DOH)
        self.assertEqual(headers["Cache-Control"], "no-store")
        m = parse_message(body)
        self.assertEqual((m["id"], m["qr"], m["rd"], m["rcode"]), (0x4242, 1, 1, 2))
        self.assertEqual(m["question"], [("www.np.test.", 1, 1)])
        self.assertEqual((m["answer"], m["authority"], m["additional"]), ([], [], []))
        self.assertEqual(svc.metric("netprobe_probes_total", kind="doh", outcome="timeout"), 1.0)
        self.assertEqual(svc.stop(), 0)


# ---- metrics ----

class MetricsTests(ServiceTestCase):

    def test_probe_outcomes_counted(self):
        svc = self.start_service(["--dns-server", NS.address])
        for name in ("www.np.test", "mx.np.test", "v6.np.test"):
            status, _, doc = svc.get_json("/dns?" + q(name=name))
            self.assertEqual((status, doc["rcode"]), (200, "NOERROR"))
        for name in ("nx1.np.test", "nx2.np.test"):
            status, _, doc = svc.get_json("/dns?" + q(name=name))
            self.assertEqual((status, doc["rcode"]), (200, "NXDOMAIN"))
        status, _, doc = svc.json("POST", "/dns", headers=JSON_HEADERS,
                                  body=json.dumps({"queries": ["www.np.test", "nx3.np.test"]}))
        self.assertEqual(status, 200)
        status, _, doc = svc.get_json("/dns?" + q(name="www.np.test", timeout_ms="300",
                                                  server="127.0.0.1:%d" % SILENT.port))
        self.assertEqual(doc["error"]["code"], "timeout")
        for i in range(4):
            status, _, _ = svc.post("/dns-query", body=build_query("www.np.test", qid=i),
                                    headers={"Content-Type": DOH})
            self.assertEqual(status, 200)
        status, _, _ = svc.get("/dns-query?dns=" + b64url(build_query("nothere.np.test")))
        self.assertEqual(status, 200)
        status, _, doc = svc.get_json("/rdns?ip=127.0.0.10")
        self.assertEqual(doc["rcode"], "NOERROR")

        text = svc.get("/metrics")[2].decode()
        m = harness.parse_metrics(text)

        def probes(kind, outcome):
            return m.get(("netprobe_probes_total",
                          frozenset({("kind", kind), ("outcome", outcome)})))

        self.assertEqual(probes("dns", "NOERROR"), 4.0, text)
        self.assertEqual(probes("dns", "NXDOMAIN"), 3.0, text)
        self.assertEqual(probes("dns", "timeout"), 1.0, text)
        self.assertEqual(probes("doh", "NOERROR"), 4.0, text)
        self.assertEqual(probes("doh", "NXDOMAIN"), 1.0, text)
        self.assertEqual(probes("rdns", "NOERROR"), 1.0, text)
        for line in text.splitlines():
            if line.startswith('netprobe_probes_total{kind="dns"'):
                self.assertRegex(line, r'outcome="(NOERROR|NXDOMAIN|timeout)"')
        self.assertEqual(svc.stop(), 0)


if __name__ == "__main__":
    unittest.main()
