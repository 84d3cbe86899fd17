"""GET /policy/check for host names: the name is resolved (A and AAAA) through
the test NSD server, and each address judged as a probe would judge it."""
import unittest

import dnsfixture
from harness import ServiceTestCase


class PolicyNamesTest(ServiceTestCase):
    @classmethod
    def setUpClass(cls):
        cls.nsd = dnsfixture.NsdServer()
        cls.nsd.start()
        cls.addClassCleanup(cls.nsd.stop)
        # good.np.test is 127.0.0.10: denied by the explicit list below.
        cls.svc = cls.start_class_service(
            ["--dns-server", cls.nsd.address, "--deny-cidr", "127.0.0.10/32"])

    def check(self, target):
        status, _, doc = self.svc.json("GET", "/policy/check?target=" + target)
        self.assertEqual(status, 200, doc)
        return doc

    def test_name_with_denied_address(self):
        doc = self.check("good.np.test")
        self.assertEqual(doc["target"], "good.np.test.")
        self.assertFalse(doc["allowed"])
        self.assertEqual(doc["verdict"], "deny")
        self.assertEqual(doc["addresses"], [{
            "address": "127.0.0.10", "family": "ipv4", "allowed": False,
            "verdict": "deny", "rule": "127.0.0.10/32", "reason": doc["addresses"][0]["reason"]}])
        self.assertIn("deny", doc["addresses"][0]["reason"])

    def test_name_with_allowed_addresses(self):
        doc = self.check("multi.np.test")
        self.assertTrue(doc["allowed"])
        self.assertEqual(doc["verdict"], "allow")
        self.assertEqual(sorted(a["address"] for a in doc["addresses"]),
                         ["192.0.2.1", "192.0.2.2"])
        self.assertTrue(all(a["allowed"] for a in doc["addresses"]))

    def test_ipv6_name(self):
        doc = self.check("v6.np.test")
        self.assertEqual([(a["address"], a["family"]) for a in doc["addresses"]],
                         [("2001:db8::1", "ipv6")])

    def test_unknown_name_is_a_finding(self):
        doc = self.check("nope.np.test")
        self.assertFalse(doc["allowed"])
        self.assertEqual(doc["verdict"], "unresolved")
        self.assertEqual(doc["addresses"], [])
        self.assertEqual(doc["error"]["code"], "not_found")
        self.assertEqual(doc["error"]["message"], "the name has no addresses")

    def test_bad_name_is_400(self):
        answer = self.svc.json("GET", "/policy/check?target=" + "a" * 64 + ".np.test")
        self.assertProblem(answer, 400, "/policy/check", param="target")
        self.assertIn("63", answer[2]["detail"])

    def test_hosts_file_is_consulted(self):
        # localhost is in /etc/hosts and unknown to the test DNS server:
        # names are resolved as a probe would resolve them before connecting.
        doc = self.check("localhost")
        self.assertEqual(doc["target"], "localhost.")
        self.assertIn("127.0.0.1", [a["address"] for a in doc["addresses"]])
        self.assertTrue(doc["allowed"])

    def test_literal_still_answers_directly(self):
        doc = self.check("169.254.169.254")
        self.assertEqual(doc["rule"], "169.254.0.0/16")
        self.assertFalse(doc["allowed"])


if __name__ == "__main__":
    unittest.main()
