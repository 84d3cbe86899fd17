"""openapi.yaml is the contract; these tests keep it honest.

1. Lint: Redocly CLI (offline, from tests/node_modules) with the recommended
   rules must report no error, no warning and nothing ignored.
2. Contract vs route table: `netprobe --list-routes` and the paths of
   openapi.yaml hold exactly the same method + path pairs, and the debug-only
   routes are exactly the operations tagged `debug`. Plus the structural
   rules this project sets for the contract (operationId, summary,
   description, explicit security, an example and X-Request-Id on every
   response, problem+json for every error, no unused component).
3. Live conformance: the real binary answers each documented status of each
   operation for a sample request, with the documented content type,
   headers and body schema; statuses that cannot be produced on demand are
   listed in UNREACHABLE with the reason. /openapi.yaml is served byte for
   byte. Draining (SIGTERM) yields the documented 503s and exit status 0;
   with --rate-limit every operation but the ops ones yields the documented
   429.

Python 3 standard library only. openapi.yaml is read with a small YAML
subset parser (below), since PyYAML is not a dependency; when PyYAML happens
to be installed, one test checks that both parsers agree on the file.

Environment (set by tests/tests.cmake): NETPROBE_BIN, NETPROBE_SOURCE_DIR,
NETPROBE_BUILD_DIR. Without them the paths default to this checkout and
build/netprobe.
"""

import base64
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

SOURCE_DIR = os.environ.get(
    "NETPROBE_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("NETPROBE_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
NETPROBE_BIN = os.environ.get("NETPROBE_BIN", os.path.join(BUILD_DIR, "netprobe"))
SPEC_PATH = os.path.join(SOURCE_DIR, "openapi.yaml")
REDOCLY = os.path.join(SOURCE_DIR, "tests", "node_modules", ".bin", "redocly")
REDOCLY_CONFIG = os.path.join(SOURCE_DIR, "tests", "redocly.yaml")

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 10.0

TOKEN = "contract-test-token"
ORIGIN = "http://dashboard.test"

# Components that are deliberately referenced by no operation (see
# tests/redocly.yaml): an operation is one method, so none can answer 405.
UNREFERENCED_OK = {"#/components/responses/MethodNotAllowed"}


# --------------------------------------------------------------------------
# A YAML subset parser: block mappings and sequences, plain / single-quoted /
# double-quoted scalars, literal block scalars (| and |-), the empty flow
# collections [] and {}, and comments. Anything else (anchors, tags, folded
# scalars, flow collections with content, multi-line plain scalars) is an
# error rather than a silent misreading, so the parser grows with the file.
# --------------------------------------------------------------------------

class YamlSubsetError(ValueError):
    pass


_INT_RE = re.compile(r"^[-+]?[0-9]+$")
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+\.[0-9]*)([eE][-+]?[0-9]+)?$")


class _YamlSubset:
    def __init__(self, text):
        self.lines = text.split("\n")
        self.i = 0
        for n, line in enumerate(self.lines, 1):
            lead = line[: len(line) - len(line.lstrip(" \t"))]
            if "\t" in lead:
                raise YamlSubsetError("line %d: tab in indentation" % n)

    def fail(self, msg):
        raise YamlSubsetError("line %d: %s" % (self.i + 1, msg))

    def peek(self):
        """(indent, content) of the next line that is not blank or a comment."""
        while self.i < len(self.lines):
            stripped = self.lines[self.i].strip()
            if stripped and not stripped.startswith("#"):
                line = self.lines[self.i]
                indent = len(line) - len(line.lstrip(" "))
                return indent, line[indent:].rstrip()
            self.i += 1
        return None

    def parse(self):
        first = self.peek()
        if first is None:
            return None
        if first[1] in ("---", "..."):
            self.fail("document markers are not supported")
        node = self.node(first[0])
        if self.peek() is not None:
            self.fail("unexpected content (bad indentation?)")
        return node

    @staticmethod
    def is_seq_item(content):
        return content == "-" or content.startswith("- ")

    def node(self, indent):
        ind, content = self.peek()
        if ind != indent:
            self.fail("expected indentation %d, found %d" % (indent, ind))
        if self.is_seq_item(content):
            return self.seq(indent)
        return self.mapping(indent)

    def seq(self, indent):
        out = []
        while True:
            nxt = self.peek()
            if nxt is None or nxt[0] < indent:
                return out
            ind, content = nxt
            if ind > indent:
                self.fail("unexpected indentation in a sequence")
            if not self.is_seq_item(content):
                return out
            rest = content[1:]
            item = rest.lstrip(" ")
            if not item or item.startswith("#"):
                self.i += 1
                out.append(self.nested_or_none(indent))
                continue
            col = indent + 1 + (len(rest) - len(item))
            if self.split_key(item) is not None:
                # "- key: value": a mapping whose first line starts at col.
                self.lines[self.i] = " " * col + item
                out.append(self.mapping(col))
            else:
                self.i += 1
                out.append(self.value(item, indent))

    def nested_or_none(self, indent):
        nxt = self.peek()
        if nxt is None or nxt[0] <= indent:
            return None
        return self.node(nxt[0])

    def mapping(self, indent):
        out = {}
        while True:
            nxt = self.peek()
            if nxt is None or nxt[0] < indent:
                return out
            ind, content = nxt
            if ind > indent:
                self.fail("unexpected indentation in a mapping")
            if self.is_seq_item(content):
                self.fail("sequence item where a mapping key was expected")
            kv = self.split_key(content)
            if kv is None:
                self.fail("expected 'key: value', found %r" % content)
            key, rest = kv
            if key in out:
                self.fail("duplicate key %r" % (key,))
            self.i += 1
            rest = rest.strip()
            if not rest or rest.startswith("#"):
                nxt = self.peek()
                if nxt is not None and nxt[0] == indent and self.is_seq_item(nxt[1]):
                    out[key] = self.seq(indent)  # "key:\n- item" at the key's indent
                else:
                    out[key] = self.nested_or_none(indent)
            else:
                out[key] = self.value(rest, indent)

    def split_key(self, content):
        """("key", "rest") if content is a mapping entry, else None."""
        if content[0] in "'\"":
            try:
                key, end = self.quoted(content)
            except YamlSubsetError:
                return None
            after = content[end:]
            if after == ":" or after.startswith(": "):
                return key, after[1:]
            return None
        for pos, ch in enumerate(content):
            if ch == ":" and (pos + 1 == len(content) or content[pos + 1] == " "):
                key = content[:pos].rstrip()
                if not key or key.startswith("#"):
                    return None
                return self.plain(key), content[pos + 1:]
            if ch == "#" and pos > 0 and content[pos - 1] == " ":
                return None
        return None

    def quoted(self, text):
        """Parses a quoted scalar at the start of text: (value, end index)."""
        q = text[0]
        pos = 1
        while pos < len(text):
            ch = text[pos]
            if q == "'" and ch == "'":
                if pos + 1 < len(text) and text[pos + 1] == "'":
                    pos += 2
                    continue
                return text[1:pos].replace("''", "'"), pos + 1
            if q == '"' and ch == "\\":
                pos += 2
                continue
            if q == '"' and ch == '"':
                try:
                    return json.loads(text[: pos + 1]), pos + 1
                except ValueError:
                    self.fail("unsupported escape in %s" % text[: pos + 1])
            pos += 1
        self.fail("unterminated quoted scalar (multi-line scalars are not supported)")

    def value(self, text, indent):
        if text[0] == "|":
            return self.block(text, indent)
        return self.scalar(text)

    def scalar(self, text):
        if text[0] in "'\"":
            val, end = self.quoted(text)
            after = text[end:].strip()
            if after and not after.startswith("#"):
                self.fail("text after a quoted scalar: %r" % after)
            return val
        cut = text.find(" #")
        if cut >= 0:
            text = text[:cut]
        text = text.rstrip()
        if text == "[]":
            return []
        if text == "{}":
            return {}
        if text[0] in "[{&*!>%@`,":
            self.fail("unsupported YAML construct: %r" % text)
        if ": " in text:
            self.fail("': ' inside a plain scalar; quote it: %r" % text)
        nxt = self.peek()
        if nxt is not None and nxt[0] > self.current_indent():
            self.fail("multi-line plain scalars are not supported")
        return self.plain(text)

    def current_indent(self):
        line = self.lines[self.i - 1]
        return len(line) - len(line.lstrip(" "))

    @staticmethod
    def plain(text):
        if text in ("null", "Null", "NULL", "~"):
            return None
        if text in ("true", "True", "TRUE"):
            return True
        if text in ("false", "False", "FALSE"):
            return False
        if _INT_RE.match(text):
            return int(text)
        if _FLOAT_RE.match(text):
            return float(text)
        return text

    def block(self, header, indent):
        head = header.split(" #")[0].strip()
        if head not in ("|", "|-"):
            self.fail("only | and |- block scalars are supported, not %r" % head)
        collected = []
        block_indent = None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if not line.strip():
                collected.append("")
                self.i += 1
                continue
            ind = len(line) - len(line.lstrip(" "))
            if block_indent is None:
                if ind <= indent:
                    break
                block_indent = ind
            if ind < block_indent:
                break
            collected.append(line[block_indent:])
            self.i += 1
        # Trailing blank lines belong to what follows; give them back.
        while collected and collected[-1] == "":
            collected.pop()
            self.i -= 1
        text = "\n".join(collected)
        if head == "|" and text:
            text += "\n"
        return text


def load_yaml_subset(text):
    return _YamlSubset(text).parse()


# --------------------------------------------------------------------------
# The contract, resolved
# --------------------------------------------------------------------------

def read_spec_bytes():
    with open(SPEC_PATH, "rb") as f:
        return f.read()


_SPEC = None


def spec():
    global _SPEC
    if _SPEC is None:
        _SPEC = load_yaml_subset(read_spec_bytes().decode("utf-8"))
    return _SPEC


def resolve(doc, ref):
    if not ref.startswith("#/"):
        raise AssertionError("only local $refs are expected: %s" % ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise AssertionError("unresolvable $ref %s" % ref)
        node = node[part]
    return node


def deref(doc, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(doc, node["$ref"])
        seen += 1
        if seen > 20:
            raise AssertionError("$ref loop")
    return node


def operations(doc):
    """[(METHOD, path, operation)] in document order."""
    out = []
    for path, item in (doc.get("paths") or {}).items():
        for method in HTTP_METHODS:
            if method in item:
                out.append((method.upper(), path, item[method]))
    return out


def operation_by_id(doc, op_id):
    for method, path, op in operations(doc):
        if op.get("operationId") == op_id:
            return method, path, op
    raise AssertionError("no operation %s in openapi.yaml" % op_id)


def is_secured(doc, op):
    sec = op.get("security", doc.get("security", []))
    return any(req for req in sec)  # [] or [{}] mean no credentials


def all_refs(node, out=None):
    if out is None:
        out = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.add(v)
            else:
                all_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            all_refs(v, out)
    return out


def media_type(value):
    """'text/plain; version=0.0.4' -> ('text/plain', {'version': '0.0.4'})."""
    parts = [p.strip() for p in value.split(";")]
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].lower(), params


def media_matches(documented, actual):
    dtype, dparams = media_type(documented)
    atype, aparams = media_type(actual)
    if dtype != atype:
        return False
    return all(aparams.get(k, "").lower() == v.lower() for k, v in dparams.items())


def is_json_media(mt):
    """application/json, application/problem+json, application/dns-json..."""
    t = media_type(mt)[0]
    return t.startswith("application/") and (t.endswith("/json") or t.endswith("+json")
                                             or t.endswith("-json"))


# --------------------------------------------------------------------------
# A JSON Schema subset validator, for the keywords this contract uses. An
# unknown keyword is an error, so a schema never passes by being ignored.
# --------------------------------------------------------------------------

_ANNOTATIONS = {"description", "format", "title", "default", "examples", "example",
                "deprecated", "readOnly", "writeOnly", "contentMediaType"}
_ASSERTIONS = {"$ref", "type", "required", "properties", "additionalProperties", "enum",
               "const", "pattern", "minimum", "maximum", "minLength", "maxLength", "items",
               "minItems", "maxItems", "oneOf", "anyOf", "allOf"}


def _type_ok(value, t):
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    if t == "string":
        return isinstance(value, str)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "null":
        return value is None
    raise AssertionError("unknown schema type %r" % t)


def schema_errors(doc, value, schema, where="$"):
    errors = []
    _validate(doc, value, schema, where, errors)
    return errors


def _validate(doc, value, schema, where, errors):
    unknown = set(schema) - _ANNOTATIONS - _ASSERTIONS
    if unknown:
        raise AssertionError("schema keyword(s) %s not supported by the test's validator"
                             % sorted(unknown))
    if "$ref" in schema:
        _validate(doc, value, resolve(doc, schema["$ref"]), where, errors)
    for sub in schema.get("allOf", []):
        _validate(doc, value, sub, where, errors)
    for kw in ("oneOf", "anyOf"):
        if kw in schema:
            ok = sum(1 for sub in schema[kw] if not schema_errors(doc, value, sub, where))
            if ok == 0 or (kw == "oneOf" and ok > 1):
                errors.append("%s: matches %d of the %s schemas" % (where, ok, kw))
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, t) for t in types):
            errors.append("%s: %r is not of type %s" % (where, value, schema["type"]))
            return
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r is not one of %r" % (where, value, schema["enum"]))
    if "const" in schema and value != schema["const"]:
        errors.append("%s: %r is not %r" % (where, value, schema["const"]))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append("%s: %r does not match %s" % (where, value, schema["pattern"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append("%s: shorter than %d" % (where, schema["minLength"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append("%s: longer than %d" % (where, schema["maxLength"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append("%s: %r < minimum %r" % (where, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append("%s: %r > maximum %r" % (where, value, schema["maximum"]))
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                errors.append("%s: required property %r missing" % (where, name))
        props = schema.get("properties", {})
        for name, sub in value.items():
            if name in props:
                _validate(doc, sub, props[name], "%s.%s" % (where, name), errors)
            elif schema.get("additionalProperties") is False:
                errors.append("%s: unexpected property %r" % (where, name))
            elif isinstance(schema.get("additionalProperties"), dict):
                _validate(doc, sub, schema["additionalProperties"],
                          "%s.%s" % (where, name), errors)
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append("%s: fewer than %d items" % (where, schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append("%s: more than %d items" % (where, schema["maxItems"]))
        for n, sub in enumerate(value if "items" in schema else []):
            _validate(doc, sub, schema["items"], "%s[%d]" % (where, n), errors)


# --------------------------------------------------------------------------
# Running the service
# --------------------------------------------------------------------------

def pick_ports():
    """Three distinct free ports: HTTP, demo TCP listener, demo UDP listener."""
    tcp1 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp2 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for s in (tcp1, tcp2, udp):
            s.bind(("127.0.0.1", 0))
        return tcp1.getsockname()[1], tcp2.getsockname()[1], udp.getsockname()[1]
    finally:
        for s in (tcp1, tcp2, udp):
            s.close()


class Service:
    """One netprobe process on free loopback ports."""

    def __init__(self, extra_args=(), debug=True):
        self.extra_args = list(extra_args)
        self.debug = debug
        self.proc = None
        self.port = None
        self.log = None

    def start(self):
        last = ""
        for _attempt in range(3):  # a port picked may be taken by a parallel test
            port, ltcp, ludp = pick_ports()
            self.close()
            self.log = tempfile.TemporaryFile()
            args = [NETPROBE_BIN, "--bind", "127.0.0.1", "--port", str(port),
                    "--listener-tcp-port", str(ltcp), "--listener-udp-port", str(ludp),
                    "--workers", "1"]
            if self.debug:
                args.append("--debug-endpoints")
            self.proc = subprocess.Popen(args + self.extra_args, stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=subprocess.STDOUT)
            self.port = port
            self.tcp_port, self.udp_port = ltcp, ludp
            if self.wait_ready():
                return self
            last = self.output()
            if self.proc.poll() is None:
                self.kill()
                raise AssertionError("netprobe not ready within %.0f s:\n%s"
                                     % (READY_TIMEOUT_S, last))
            if "in use" not in last:
                break
        raise AssertionError("netprobe did not start (exit %s):\n%s"
                             % (self.proc.returncode, last))

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/readyz")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def output(self):
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-4000:]

    def stop(self):
        """SIGTERM by PID; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("netprobe did not exit within %.0f s of SIGTERM:\n%s"
                                 % (STOP_TIMEOUT_S, self.output()))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        """Kills the process if it still runs and drops its log."""
        self.kill()
        if self.log is not None:
            self.log.close()
            self.log = None


class FakeDns:
    """A tiny authoritative DNS server on 127.0.0.1 (UDP and TCP, one port):
    host.test A/AAAA, the PTR of 192.0.2.10, NXDOMAIN for other names, and
    no answer at all for names starting with "slow" and for 192.0.2.99."""

    A = {"host.test.": "192.0.2.10"}
    AAAA = {"host.test.": "2001:db8::10"}
    PTR = {"10.2.0.192.in-addr.arpa.": "host.test."}
    SILENT = {"99.2.0.192.in-addr.arpa."}

    def __init__(self):
        for _attempt in range(5):  # UDP and TCP on the same free port
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise AssertionError("no free port for the fake DNS server")
        self.tcp.listen(16)
        self.server = "127.0.0.1:%d" % self.port
        for target in (self.serve_udp, self.serve_tcp):
            threading.Thread(target=target, daemon=True).start()

    @staticmethod
    def wire_name(name):
        return b"".join(bytes([len(label)]) + label.encode()
                        for label in name.strip(".").split(".") if label) + b"\0"

    @staticmethod
    def read_name(msg, off):
        labels = []
        while msg[off] != 0:
            n = msg[off]
            labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
            off += 1 + n
        return ".".join(labels) + ".", off + 1

    def answer(self, query):
        qid, flags, _qd, _an, _ns, ar = struct.unpack("!6H", query[:12])
        name, off = self.read_name(query, 12)
        qtype = struct.unpack("!H", query[off:off + 2])[0]
        lname = name.lower()
        if lname.startswith("slow") or lname in self.SILENT:
            return None
        rcode, rrs = 0, []
        if qtype == 1 and lname in self.A:
            rrs.append((1, socket.inet_pton(socket.AF_INET, self.A[lname])))
        elif qtype == 28 and lname in self.AAAA:
            rrs.append((28, socket.inet_pton(socket.AF_INET6, self.AAAA[lname])))
        elif qtype == 12 and lname in self.PTR:
            rrs.append((12, self.wire_name(self.PTR[lname])))
        elif lname not in self.A and lname not in self.PTR:
            rcode = 3
        records = b"".join(b"\xc0\x0c" + struct.pack("!HHIH", t, 1, 300, len(d)) + d
                           for t, d in rrs)
        opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0) if ar else b""
        rflags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
        return (struct.pack("!6H", qid, rflags, 1, len(rrs), 0, 1 if opt else 0)
                + query[12:off + 4] + records + opt)

    def serve_udp(self):
        while True:
            try:
                data, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            try:
                reply = self.answer(data)
                if reply is not None:
                    self.udp.sendto(reply, peer)
            except (ValueError, IndexError, struct.error, OSError):
                continue

    def serve_tcp(self):
        while True:
            try:
                conn, _peer = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self.serve_tcp_conn, args=(conn,), daemon=True).start()

    def serve_tcp_conn(self, conn):
        with conn:
            try:
                while True:
                    head = conn.recv(2, socket.MSG_WAITALL)
                    if len(head) < 2:
                        return
                    msg = conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
                    reply = self.answer(msg)
                    if reply is not None:
                        conn.sendall(struct.pack("!H", len(reply)) + reply)
            except (ValueError, IndexError, struct.error, OSError):
                return

    def close(self):
        self.udp.close()
        self.tcp.close()


def dns_query(name, qtype=1, qid=0xABCD, flags=0x0100):
    """A DNS query message, as a DoH client sends it."""
    return (struct.pack("!6H", qid, flags, 1, 0, 0, 0) + FakeDns.wire_name(name)
            + struct.pack("!HH", qtype, 1))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Response:
    def __init__(self, status, headers, body, path):
        self.status = status
        self.header_list = headers
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        self.path = path

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def http_request(port, method, target, headers=None, body=None, content_length=None,
                 conn=None):
    """One request. content_length announces a body that is never sent."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if content_length is not None:
            conn.putheader("Content-Length", str(content_length))
        elif body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        body = resp.read()
        return Response(resp.status, resp.getheaders(), body, target.split("?")[0])
    finally:
        if own:
            conn.close()


# --------------------------------------------------------------------------
# Checking one answer against the contract
# --------------------------------------------------------------------------

def check_against_contract(tc, doc, op, resp, sent_request_id=None, parameter=None):
    """Status, content type, headers and body of resp against op's documentation."""
    status = str(resp.status)
    responses = op["responses"]
    tc.assertIn(status, responses, "%s answered %d, which openapi.yaml does not document "
                "for %s; body: %r" % (resp.path, resp.status, op["operationId"], resp.body))
    check_against_response(tc, doc, deref(doc, responses[status]), resp, sent_request_id,
                           parameter)


def check_against_response(tc, doc, documented, resp, sent_request_id=None, parameter=None):
    what = "%s %d" % (resp.path, resp.status)
    # Headers: every documented one that is required, each value to its schema.
    for name, h in (documented.get("headers") or {}).items():
        h = deref(doc, h)
        value = resp.header(name)
        if h.get("required"):
            tc.assertIsNotNone(value, "%s: documented header %s missing" % (what, name))
        if value is not None:
            schema = deref(doc, h["schema"])
            if schema.get("type") == "integer":
                tc.assertRegex(value, r"^[0-9]+$", "%s: header %s" % (what, name))
                value = int(value)
            tc.assertEqual(schema_errors(doc, value, schema), [],
                           "%s: header %s: %r" % (what, name, value))
    rid = resp.header("X-Request-Id")
    tc.assertIsNotNone(rid, "%s: no X-Request-Id" % what)
    if sent_request_id is not None:
        tc.assertEqual(rid, sent_request_id, "%s: X-Request-Id not echoed" % what)
    # Content type and body.
    content = documented.get("content") or {}
    ctype = resp.header("Content-Type")
    if not content:
        tc.assertEqual(resp.body, b"", "%s: documented without content" % what)
        return
    tc.assertIsNotNone(ctype, "%s: no Content-Type" % what)
    matching = [mt for mt in content if media_matches(mt, ctype)]
    tc.assertTrue(matching, "%s: Content-Type %r is none of the documented %s"
                  % (what, ctype, sorted(content)))
    mt = matching[0]
    schema = content[mt].get("schema", {})
    if is_json_media(mt):
        try:
            body = resp.json()
        except ValueError as e:
            tc.fail("%s: body is not JSON (%s): %r" % (what, e, resp.body[:200]))
        tc.assertEqual(schema_errors(doc, body, schema), [],
                       "%s: body %r does not match the schema" % (what, body))
        if media_type(mt)[0] == "application/problem+json":
            tc.assertEqual(body["status"], resp.status, "%s: problem status" % what)
            tc.assertEqual(body["request_id"], rid, "%s: problem request_id" % what)
            tc.assertEqual(body["instance"], resp.path, "%s: problem instance" % what)
            tc.assertTrue(body["detail"], "%s: empty detail" % what)
            if parameter is not None:
                tc.assertEqual(body.get("parameter"), parameter,
                               "%s: the problem must name the parameter" % what)
    elif media_type(mt)[0].startswith("text/") or media_type(mt)[0].endswith("yaml"):
        tc.assertEqual(schema_errors(doc, resp.body.decode("utf-8"), schema), [], what)
    else:  # binary: one character per byte, as the examples show it
        tc.assertEqual(schema_errors(doc, resp.body.decode("latin-1"), schema), [], what)


# --------------------------------------------------------------------------
# 1. Lint
# --------------------------------------------------------------------------

class LintTest(unittest.TestCase):
    def test_redocly_lint_has_no_errors_or_warnings(self):
        if not os.access(REDOCLY, os.X_OK):
            self.fail("%s is missing: run scripts/install-node-tools.sh" % REDOCLY)
        env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
                   NO_COLOR="1")
        args = [REDOCLY, "lint", "--format", "json", "--max-problems", "1000"]
        if os.path.exists(REDOCLY_CONFIG):
            args += ["--config", REDOCLY_CONFIG]
        proc = subprocess.run(args + [SPEC_PATH], cwd=SOURCE_DIR, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        out = proc.stdout.decode("utf-8", "replace")
        try:
            report = json.loads(out[out.index("{"):])
        except ValueError:
            self.fail("redocly printed no JSON report (exit %d):\n%s\n%s" % (
                proc.returncode, out, proc.stderr.decode("utf-8", "replace")))
        problems = ["%s %s at %s: %s" % (
            p.get("severity"), p.get("ruleId"),
            ",".join(loc.get("pointer", "?") for loc in p.get("location", [])),
            p.get("message")) for p in report.get("problems", [])]
        totals = report.get("totals", {})
        self.assertEqual((totals.get("errors"), totals.get("warnings"), totals.get("ignored")),
                         (0, 0, 0), "redocly lint:\n" + "\n".join(problems))
        self.assertEqual(proc.returncode, 0, proc.stderr.decode("utf-8", "replace"))


# --------------------------------------------------------------------------
# 2. The contract against the route table, and its own rules
# --------------------------------------------------------------------------

def list_routes():
    out = subprocess.run([NETPROBE_BIN, "--list-routes"], capture_output=True, check=True,
                         timeout=30).stdout.decode()
    routes = {}
    for line in out.splitlines():
        if not line.strip():
            continue
        m = re.match(r"^([A-Z]+) (/\S*)( debug)?$", line)
        if m is None:
            raise AssertionError("unexpected --list-routes line %r" % line)
        routes[(m.group(1), m.group(2))] = bool(m.group(3))
    return routes


class ContractTest(unittest.TestCase):
    def setUp(self):
        self.doc = spec()

    def test_yaml_subset_parser_agrees_with_pyyaml(self):
        try:
            import yaml  # only for cross-checking the hand-written parser
        except ImportError:
            self.skipTest("PyYAML not installed")
        self.assertEqual(load_yaml_subset(read_spec_bytes().decode("utf-8")),
                         yaml.safe_load(read_spec_bytes()))

    def test_yaml_subset_parser_basics(self):
        text = ("a: 1\nb:\n  - x\n  - k: 'it''s'\n    n: null\nc: |\n  line1\n\n  # kept\n"
                "d: \"q\\\"\"  # comment\ne: []\nf:\n- 2.5\ng: |-\n  s\nh: plain: no\n")
        with self.assertRaises(YamlSubsetError):
            load_yaml_subset(text)
        self.assertEqual(load_yaml_subset(text.replace("h: plain: no\n", "h: 'x: y'\n")), {
            "a": 1, "b": ["x", {"k": "it's", "n": None}], "c": "line1\n\n# kept\n",
            "d": 'q"', "e": [], "f": [2.5], "g": "s", "h": "x: y"})
        for bad in ("a: &x 1\n", "a: >\n  folded\n", "a: [1]\n", "a: 1\na: 2\n",
                    "a:\n  b: 1\n   c: 2\n", "a: x\n  y\n"):
            with self.assertRaises(YamlSubsetError, msg=bad):
                load_yaml_subset(bad)

    def test_openapi_and_info(self):
        self.assertEqual(self.doc["openapi"], "3.1.0")
        with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
            m = re.search(r"project\(\s*netprobe\s+VERSION\s+([0-9.]+)", f.read())
        self.assertIsNotNone(m, "project VERSION not found in CMakeLists.txt")
        self.assertEqual(self.doc["info"]["version"], m.group(1))
        self.assertEqual(self.doc["info"]["license"].get("identifier"), "MIT")

    def test_route_table_and_paths_agree(self):
        routes = list_routes()
        self.assertTrue(routes, "--list-routes printed nothing")
        documented = {(m, p) for m, p, _op in operations(self.doc)}
        self.assertEqual(sorted(set(routes) - documented), [],
                         "routes missing from openapi.yaml paths")
        self.assertEqual(sorted(documented - set(routes)), [],
                         "openapi.yaml documents routes the service does not have")
        for method, path, op in operations(self.doc):
            debug = routes[(method, path)]
            self.assertEqual("debug" in op.get("tags", []), debug,
                             "%s %s: debug-only routes, and only they, carry the debug tag"
                             % (method, path))
            if debug:
                self.assertIn("--debug-endpoints", op["description"],
                              "%s %s must say it exists only with --debug-endpoints"
                              % (method, path))

    def test_operations_are_fully_described(self):
        tags = {t["name"] for t in self.doc.get("tags", [])}
        ids = set()
        for method, path, op in operations(self.doc):
            where = "%s %s" % (method, path)
            for field in ("operationId", "summary", "description", "tags", "responses"):
                self.assertTrue(op.get(field), "%s: no %s" % (where, field))
            self.assertNotIn(op["operationId"], ids, "%s: duplicate operationId" % where)
            ids.add(op["operationId"])
            self.assertTrue(set(op["tags"]) <= tags, "%s: undeclared tag" % where)
            self.assertIn("security", op, "%s: security must be explicit" % where)
            for req in op["security"]:
                self.assertTrue(set(req) <= {"bearerAuth"}, where)
            for p in op.get("parameters", []):
                p = deref(self.doc, p)
                self.assertTrue(p.get("description") and p.get("schema"),
                                "%s: parameter %s needs a description and a schema"
                                % (where, p.get("name")))
            self.assertTrue(any(s.startswith("2") for s in op["responses"]), where)
            if "requestBody" in op:
                body = deref(self.doc, op["requestBody"])
                self.assertTrue(body.get("content"), "%s: request body without content" % where)
                for mt, media in body["content"].items():
                    self.assertIn("schema", media, "%s request %s" % (where, mt))
                    self.assertTrue("example" in media or "examples" in media,
                                    "%s request %s: no example" % (where, mt))
            for status, r in op["responses"].items():
                self.check_documented_response(
                    "%s %s" % (where, status), status, deref(self.doc, r))
        # The reusable ones too, including those no operation lists (errors).
        used_as = {}
        for _m, _p, op in operations(self.doc):
            for status, r in op["responses"].items():
                used_as.setdefault(r.get("$ref"), set()).add(status)
        for name, r in self.doc["components"]["responses"].items():
            statuses = used_as.get("#/components/responses/" + name, {"4xx"})
            for status in statuses:
                self.check_documented_response("components/responses/" + name, status, r)

    def check_documented_response(self, where, status, r):
        self.assertTrue(r.get("description"), "%s: no description" % where)
        headers = r.get("headers") or {}
        self.assertEqual(headers.get("X-Request-Id"),
                         {"$ref": "#/components/headers/X-Request-Id"},
                         "%s: every response documents X-Request-Id" % where)
        content = r.get("content") or {}
        self.assertTrue(content, "%s: no content" % where)
        for mt, media in content.items():
            self.assertIn("schema", media, "%s %s: no schema" % (where, mt))
            self.assertTrue("example" in media or "examples" in media,
                            "%s %s: no example" % (where, mt))
            if status[0] in "45":
                self.assertEqual(mt, "application/problem+json", where)
                self.assertEqual(media["schema"], {"$ref": "#/components/schemas/Problem"},
                                 where)

    def test_examples_match_their_schemas(self):
        checked = 0
        for where, media in self.media_objects():
            examples = []
            if "example" in media:
                examples.append(media["example"])
            for ex in (media.get("examples") or {}).values():
                examples.append(deref(self.doc, ex)["value"])
            for ex in examples:
                self.assertEqual(schema_errors(self.doc, ex, media["schema"]), [], where)
                checked += 1
        for name, p in self.doc["components"]["parameters"].items():
            exs = [p["example"]] if "example" in p else [
                e["value"] for e in (p.get("examples") or {}).values()]
            for ex in exs:
                self.assertEqual(schema_errors(self.doc, ex, p["schema"]), [], name)
                checked += 1
        self.assertGreater(checked, 10)

    def media_objects(self):
        seen = []
        for method, path, op in operations(self.doc):
            body = deref(self.doc, op.get("requestBody", {}))
            for mt, media in (body.get("content") or {}).items():
                seen.append(("%s %s request %s" % (method, path, mt), media))
            for status, r in op["responses"].items():
                if "$ref" in r:
                    continue
                for mt, media in (r.get("content") or {}).items():
                    seen.append(("%s %s %s %s" % (method, path, status, mt), media))
        for name, r in self.doc["components"]["responses"].items():
            for mt, media in (r.get("content") or {}).items():
                seen.append(("components/responses/%s %s" % (name, mt), media))
        return seen

    def test_every_ref_resolves_and_every_component_is_used(self):
        refs = all_refs(self.doc)
        for ref in refs:
            resolve(self.doc, ref)
        used_schemes = {name for _m, _p, op in operations(self.doc)
                        for req in op.get("security", []) for name in req}
        for kind, comps in self.doc["components"].items():
            for name in comps:
                pointer = "#/components/%s/%s" % (kind, name)
                if kind == "securitySchemes":
                    self.assertIn(name, used_schemes, pointer + " is never used")
                elif pointer in UNREFERENCED_OK:
                    self.assertNotIn(pointer, refs, pointer + " is used: drop the exemption")
                else:
                    self.assertIn(pointer, refs, pointer + " is never used")


# --------------------------------------------------------------------------
# 3. Live conformance
# --------------------------------------------------------------------------

class Case:
    """A sample request for one operation and the status it must get. In
    query and body, {dns} stands for the fake DNS server's ip:port."""

    def __init__(self, status, query="", token="default", headers=None, body=None,
                 content_type=None, big_body=False, parameter=None, check=None):
        self.status = status
        self.query = query
        self.token = token          # "default" (the op's need), "valid", "none", "wrong"
        self.headers = headers or {}
        self.body = body            # bytes, or JSON-able (sent as application/json)
        self.content_type = content_type
        self.big_body = big_body    # announce a body over --max-body
        self.parameter = parameter  # the problem's `parameter`
        self.check = check          # extra checks: check(testcase, response)

    def request(self, dns_server):
        query = self.query() if callable(self.query) else self.query
        headers = dict(self.headers)
        body = self.body() if callable(self.body) else self.body
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        if body is not None:
            body = body.replace(b"{dns}", dns_server.encode())
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        return query.replace("{dns}", dns_server), headers, body


def _closed_port():
    """A loopback TCP/UDP port this test held and let go: nothing listens."""
    return pick_ports()[0]


def _check_raw(status, code=None, data=None):
    def check(tc, r):
        doc = r.json()
        tc.assertEqual(doc["status"], status, doc)
        if code is not None:
            tc.assertEqual(doc["error"]["code"], code)
        if data is not None:
            got = doc["received"] if "received" in doc else doc["datagrams"][0]
            tc.assertEqual(got["data"], data)
    return check


def _check_fetch(code, data):
    def check(tc, r):
        doc = r.json()
        tc.assertEqual((doc["status"], doc["status_code"]), ("ok", code), doc)
        tc.assertEqual(doc["body"]["data"], data)
    return check


def _check_scan(nopen, nclosed):
    def check(tc, r):
        doc = r.json()
        tc.assertEqual((doc["status"], doc["complete"]), ("ok", True), doc)
        tc.assertEqual((len(doc["open"]), doc["closed"], doc["filtered"], doc["unscanned"]),
                       (nopen, nclosed, 0, 0))
    return check


def _listener_body(proto):
    def body():
        svc = LiveConformanceTest.svc
        return {"host": "127.0.0.1", "data": "Hello from client",
                "port": svc.tcp_port if proto == "tcp" else svc.udp_port}
    return body


def _check_dashboard(tc, r):
    tc.assertIn(b"<html", r.body.lower())


def _check_dashboard_js(tc, r):
    tc.assertIn(b"addEventListener", r.body)


def _check_dashboard_css(tc, r):
    tc.assertIn(b"font-family", r.body)


def _check_health(tc, r):
    tc.assertEqual(r.json(), {"status": "ok"})


def _check_ready(tc, r):
    tc.assertEqual(r.json(), {"status": "ready"})


def _check_version(tc, r):
    tc.assertEqual(r.json()["version"], spec()["info"]["version"])


_SAMPLE_RE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})?'
                        r" (-?[0-9.e+]+|NaN|\+Inf|-Inf)$")


def _check_metrics(tc, r):
    text = r.body.decode("utf-8")
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        tc.assertRegex(line, _SAMPLE_RE, "not a Prometheus exposition line")
    tc.assertRegex(text, r"(?m)^# TYPE netprobe_http_requests_total counter$")
    tc.assertIn('netprobe_build_info{version="%s"} 1' % spec()["info"]["version"], text)


def _check_openapi(tc, r):
    tc.assertTrue(r.body == read_spec_bytes(),
                  "/openapi.yaml served by the binary differs from openapi.yaml "
                  "(rebuild after editing it)")


def _check_denied(tc, r):
    d = r.json()
    tc.assertEqual((d["allowed"], d["verdict"], d["rule"], d["family"]),
                   (False, "deny", "169.254.0.0/16", "ipv4"))


def _check_ipv6(tc, r):
    d = r.json()
    tc.assertEqual((d["target"], d["address"], d["family"]), ("[::1]", "::1", "ipv6"))
    tc.assertEqual(d["allowed"], d["verdict"] == "allow")


def _check_delay(ms):
    def check(tc, r):
        tc.assertEqual(r.json(), {"delayed_ms": ms})
    return check


def _check_dns(rcode=None, data=None, status="ok", error_code=None, transport=None):
    def check(tc, r):
        d = r.json()
        tc.assertEqual(d["status"], status)
        if rcode is not None:
            tc.assertEqual(d["rcode"], rcode)
        if data is not None:
            tc.assertEqual([a["data"] for a in d["answer"]], data)
        if error_code is not None:
            tc.assertEqual(d["error"]["code"], error_code)
        if transport is not None:
            tc.assertEqual(d["query"]["transport"], transport)
    return check


def _check_google(tc, r):
    d = r.json()
    tc.assertEqual((d["Status"], [a["data"] for a in d["Answer"]]), (0, ["192.0.2.10"]))


def _check_compare(tc, r):
    d = r.json()
    tc.assertEqual((len(d["results"]), d["agree"]), (2, True))


def _check_batch(tc, r):
    d = r.json()
    tc.assertEqual(d["count"], 2)
    tc.assertEqual([a["data"] for a in d["results"][0]["answer"]], ["192.0.2.10"])
    tc.assertEqual(d["results"][1]["rcode"], "NXDOMAIN")


def _check_batch_google(tc, r):
    d = r.json()
    tc.assertEqual((d["count"], d["results"][0]["Status"]), (1, 0))


def _check_rdns(names, confirmed=None):
    def check(tc, r):
        d = r.json()
        tc.assertEqual(d["names"], names)
        if confirmed is None:
            tc.assertNotIn("confirmation", d)
        else:
            tc.assertEqual(d["confirmation"]["confirmed"], confirmed)
    return check


def _check_doh(rcode, ancount, cache):
    def check(tc, r):
        qid, flags, _qd, an = struct.unpack("!4H", r.body[:8])
        tc.assertEqual(qid, 0xABCD, "the client's message ID must come back")
        tc.assertTrue(flags & 0x8000, "QR")
        tc.assertEqual((flags & 0xF, an), (rcode, ancount))
        tc.assertEqual(r.header("Cache-Control"), cache)
    return check


def _param_bound(name, key, delta):
    def query():
        schema = deref(spec(), spec()["components"]["parameters"][name])["schema"]
        return schema[key] + delta
    return query


def _batch_max():
    return spec()["components"]["schemas"]["DnsBatchRequest"]["allOf"][1]["properties"][
        "queries"]["maxItems"]


_DOH_HOST = b64url(dns_query("host.test"))
_DOH_SLOW = b64url(dns_query("slow.test"))
_DENIED = "169.254.169.254"

CASES = {
    "getDashboard": [Case(200, check=_check_dashboard), Case(413, big_body=True)],
    "getDashboardScript": [Case(200, check=_check_dashboard_js), Case(413, big_body=True)],
    "getDashboardStyle": [Case(200, check=_check_dashboard_css), Case(413, big_body=True)],
    "getHealth": [Case(200, check=_check_health),
                  Case(200, headers={"X-Request-Id": "client-id_1.2:3"}),
                  Case(413, big_body=True)],
    "getReadiness": [Case(200, check=_check_ready), Case(413, big_body=True)],
    "getVersion": [Case(200, check=_check_version), Case(413, big_body=True)],
    "getMetrics": [Case(200, check=_check_metrics), Case(413, big_body=True)],
    "getOpenApi": [Case(200, check=_check_openapi), Case(413, big_body=True)],
    "dnsLookup": [
        Case(200, "?name=host.test", check=_check_dns("NOERROR", ["192.0.2.10"])),
        Case(200, "?name=nx.test&type=AAAA", check=_check_dns("NXDOMAIN", [])),
        Case(200, "?name=host.test.&type=28&server={dns}&transport=tcp&do=1&cd=1&rd=0",
             check=_check_dns("NOERROR", ["2001:db8::10"], transport="tcp")),
        Case(200, "?name=slow.test&timeout_ms=200&tries=1",
             check=_check_dns(status="error", error_code="timeout")),
        Case(200, "?name=host.test&format=doh", check=_check_google),
        Case(200, "?name=host.test", headers={"Accept": "application/dns-json"},
             check=_check_google),
        Case(200, "?name=host.test&servers={dns},{dns}", check=_check_compare),
        Case(200, "?name=host.test&nsid=1&subnet=192.0.2.0/24&udp_size=4096",
             check=_check_dns("NOERROR", ["192.0.2.10"])),
        Case(400, "", parameter="name"),
        Case(400, "?name=a..b", parameter="name"),
        Case(400, "?name=host.test&type=BOGUS", parameter="type"),
        Case(400, "?name=host.test&type=AXFR", parameter="type"),
        Case(400, "?name=host.test&class=XX", parameter="class"),
        Case(400, "?name=host.test&server=nope", parameter="server"),
        Case(400, "?name=host.test&transport=sctp", parameter="transport"),
        Case(400, "?name=host.test&timeout_ms=0", parameter="timeout_ms"),
        Case(400, lambda: "?name=host.test&timeout_ms=%d"
             % _param_bound("TimeoutMs", "maximum", 1)(), parameter="timeout_ms"),
        Case(400, lambda: "?name=host.test&tries=%d" % _param_bound("DnsTries", "maximum", 1)(),
             parameter="tries"),
        Case(400, "?name=host.test&rd=maybe", parameter="rd"),
        Case(400, "?name=host.test&do=1&edns=0", parameter="do"),
        Case(400, "?name=host.test&nsid=1&edns=0", parameter="nsid"),
        Case(400, "?name=host.test&subnet=192.0.2.0/33", parameter="subnet"),
        Case(400, "?name=host.test&udp_size=511", parameter="udp_size"),
        Case(400, "?name=host.test&format=xml", parameter="format"),
        Case(400, "?name=host.test&server={dns}&servers={dns}", parameter="servers"),
        Case(400, "?name=host.test&servers=" + ",".join(["{dns}"] * 11), parameter="servers"),
        Case(401, "?name=host.test", token="none", parameter="Authorization"),
        Case(403, "?name=host.test&server=" + _DENIED, parameter="server"),
        Case(403, "?name=host.test&servers={dns}," + _DENIED, parameter="servers"),
        Case(413, "?name=host.test", big_body=True, parameter="body"),
    ],
    "dnsBatch": [
        Case(200, body={"queries": ["host.test", {"name": "nx.test", "type": "AAAA"}],
                        "timeout_ms": 2000}, check=_check_batch),
        Case(200, body={"queries": ["host.test"], "format": "doh"}, check=_check_batch_google),
        Case(400, parameter="body"),
        Case(400, body=b"nope", parameter="body"),
        Case(400, body=[], parameter="body"),
        Case(400, body={}, parameter="queries"),
        Case(400, body={"queries": []}, parameter="queries"),
        Case(400, body=lambda: {"queries": ["host.test"] * (_batch_max() + 1)},
             parameter="queries"),
        Case(400, body={"queries": [5]}, parameter="queries[0]"),
        Case(400, body={"queries": ["host.test", {"type": "A"}]}, parameter="queries[1].name"),
        Case(400, body={"queries": [{"name": "host.test", "type": "BOGUS"}]},
             parameter="queries[0].type"),
        Case(400, body={"queries": ["host.test"], "tries": 9}, parameter="tries"),
        Case(400, body={"queries": ["host.test"], "format": 5}, parameter="format"),
        Case(401, body={"queries": ["host.test"]}, token="none", parameter="Authorization"),
        Case(403, body={"queries": ["host.test"], "server": _DENIED}, parameter="server"),
        Case(403, body={"queries": [{"name": "host.test", "server": _DENIED}]},
             parameter="queries[0].server"),
        Case(413, big_body=True, parameter="body"),
    ],
    "fetchGet": [
        Case(200, lambda: "?url=" + urllib.parse.quote(
            "http://127.0.0.1:%d/healthz" % LiveConformanceTest.svc.port),
             check=_check_fetch(200, '{"status":"ok"}')),
        Case(200, lambda: "?url=" + urllib.parse.quote("http://127.0.0.1:%d/" % _closed_port()),
             check=_check_raw("error", "connect_refused")),
        Case(400, "", parameter="url"),
        Case(400, "?url=ftp%3A%2F%2Fx%2F", parameter="url"),
        Case(400, "?url=http%3A%2F%2F127.0.0.1%2F&method=get", parameter="method"),
        Case(400, "?url=http%3A%2F%2F127.0.0.1%2F&follow=11", parameter="follow"),
        Case(401, "?url=http%3A%2F%2F127.0.0.1%2F", token="none", parameter="Authorization"),
        Case(403, "?url=http%3A%2F%2F" + _DENIED + "%2F", parameter="url"),
        Case(413, "?url=http%3A%2F%2F127.0.0.1%2F", big_body=True, parameter="body"),
    ],
    "fetchPost": [
        Case(200, body=lambda: {"url": "http://127.0.0.1:%d/healthz" % LiveConformanceTest.svc.port,
                                "headers": {"X-Test": "1"}},
             check=_check_fetch(200, '{"status":"ok"}')),
        Case(400, parameter="body"),
        Case(400, body={"url": "http://127.0.0.1/", "foo": 1}, parameter="foo"),
        Case(400, body={"url": "http://127.0.0.1/", "headers": {"Bad Name": "x"}},
             parameter="headers.Bad Name"),
        Case(400, body={"url": "http://127.0.0.1/", "body": "a", "body_base64": "YQ=="},
             parameter="body_base64"),
        Case(401, body={"url": "http://127.0.0.1/"}, token="none", parameter="Authorization"),
        Case(403, body={"url": "http://" + _DENIED + "/"}, parameter="url"),
        Case(413, big_body=True, parameter="body"),
    ],
    "scanGet": [
        Case(200, lambda: "?host=127.0.0.1&ports=%d,%d" % (LiveConformanceTest.svc.tcp_port,
                                                         _closed_port()),
             check=_check_scan(1, 1)),
        Case(400, "?ports=80", parameter="host"),
        Case(400, "?host=127.0.0.1", parameter="ports"),
        Case(400, "?host=127.0.0.1&ports=10-5", parameter="ports"),
        Case(400, "?host=127.0.0.1&ports=80&concurrency=0", parameter="concurrency"),
        Case(401, "?host=127.0.0.1&ports=80", token="none", parameter="Authorization"),
        Case(403, "?host=" + _DENIED + "&ports=80", parameter="host"),
        Case(413, "?host=127.0.0.1&ports=80", big_body=True, parameter="body"),
    ],
    "scanPost": [
        Case(200, body=lambda: {"host": "127.0.0.1",
                                "ports": [LiveConformanceTest.svc.tcp_port,
                                          "%d-%d" % ((_closed_port(),) * 2)]},
             check=_check_scan(1, 1)),
        Case(400, parameter="body"),
        Case(400, body={"host": "127.0.0.1", "ports": [0]}, parameter="ports"),
        Case(400, body={"host": "127.0.0.1", "ports": "80", "foo": 1}, parameter="foo"),
        Case(400, body={"host": "127.0.0.1", "ports": "80", "banner": "yes"}, parameter="banner"),
        Case(401, body={"host": "127.0.0.1", "ports": "80"}, token="none",
             parameter="Authorization"),
        Case(403, body={"host": _DENIED, "ports": "80"}, parameter="host"),
        Case(413, big_body=True, parameter="body"),
    ],
    "tcpExchange": [
        Case(200, body=lambda: {"host": "127.0.0.1", "port": _closed_port()},
             check=_check_raw("error", "connect_refused")),
        Case(200, body=_listener_body("tcp"), check=_check_raw("ok", data="Hello from server")),
        Case(200, body=lambda: {"host": "127.0.0.1", "port": LiveConformanceTest.svc.tcp_port,
                                "data_base64": "aGk=", "max_bytes": 5, "half_close": True},
             check=_check_raw("ok", data="Hello")),
        Case(400, parameter="body"),
        Case(400, body=[], parameter="body"),
        Case(400, body={"port": 80}, parameter="host"),
        Case(400, body={"host": "bad..name", "port": 80}, parameter="host"),
        Case(400, body={"host": "127.0.0.1"}, parameter="port"),
        Case(400, body={"host": "127.0.0.1", "port": "80"}, parameter="port"),
        Case(400, body={"host": "127.0.0.1", "port": 80, "data": "a", "data_base64": "YQ=="},
             parameter="data_base64"),
        Case(400, body={"host": "127.0.0.1", "port": 80, "data_base64": "!"},
             parameter="data_base64"),
        Case(400, body={"host": "127.0.0.1", "port": 80, "max_datagrams": 2},
             parameter="max_datagrams"),
        Case(400, body={"host": "127.0.0.1", "port": 80, "max_bytes": 0}, parameter="max_bytes"),
        Case(401, body={"host": "127.0.0.1", "port": 80}, token="none", parameter="Authorization"),
        Case(403, body={"host": _DENIED, "port": 80}, parameter="host"),
        Case(413, big_body=True, parameter="body"),
    ],
    "udpExchange": [
        Case(200, body=lambda: {"host": "127.0.0.1", "port": _closed_port()},
             check=_check_raw("error", "connect_refused")),
        Case(200, body=_listener_body("udp"), check=_check_raw("ok", data="Hello from server")),
        Case(400, parameter="body"),
        Case(400, body={"host": "127.0.0.1"}, parameter="port"),
        Case(400, body={"host": "127.0.0.1", "port": 53, "idle_ms": 5}, parameter="idle_ms"),
        Case(400, body={"host": "127.0.0.1", "port": 53, "half_close": True},
             parameter="half_close"),
        Case(400, body={"host": "127.0.0.1", "port": 53, "max_datagrams": 101},
             parameter="max_datagrams"),
        Case(401, body={"host": "127.0.0.1", "port": 53}, token="none", parameter="Authorization"),
        Case(403, body={"host": "[::ffff:169.254.169.254]", "port": 53}, parameter="host"),
        Case(413, big_body=True, parameter="body"),
    ],
    "reverseLookup": [
        Case(200, "?ip=192.0.2.10", check=_check_rdns(["host.test."])),
        Case(200, "?ip=192.0.2.10&confirm=1", check=_check_rdns(["host.test."], True)),
        Case(200, "?ip=2001:db8::10&confirm", check=_check_rdns([], False)),
        Case(400, "", parameter="ip"),
        Case(400, "?ip=nope", parameter="ip"),
        Case(400, "?ip=192.0.2.10&name=x", parameter="name"),
        Case(400, "?ip=192.0.2.10&type=A", parameter="type"),
        Case(400, "?ip=192.0.2.10&confirm=maybe", parameter="confirm"),
        Case(400, "?ip=192.0.2.10&timeout_ms=0", parameter="timeout_ms"),
        Case(401, "?ip=192.0.2.10", token="none", parameter="Authorization"),
        Case(403, "?ip=192.0.2.10&server=" + _DENIED, parameter="server"),
        Case(413, "?ip=192.0.2.10", big_body=True, parameter="body"),
    ],
    "dohGet": [
        Case(200, "?dns=" + _DOH_HOST, check=_check_doh(0, 1, "max-age=300")),
        Case(200, "?dns=" + _DOH_SLOW, check=_check_doh(2, 0, "no-store")),
        Case(400, "", parameter="dns"),
        Case(400, "?dns=!!", parameter="dns"),
        Case(400, "?dns=AAAA", parameter="dns"),
        Case(400, "?dns=" + b64url(dns_query("host.test", flags=0x8100)), parameter="dns"),
        # DoH clients cannot send tokens: the endpoint is public.
        Case(200, "?dns=" + _DOH_HOST, token="none", check=_check_doh(0, 1, "max-age=300")),
        Case(413, "?dns=" + _DOH_HOST, big_body=True, parameter="body"),
    ],
    "dohPost": [
        Case(200, body=dns_query("host.test"), content_type="application/dns-message",
             check=_check_doh(0, 1, "max-age=300")),
        Case(400, body=b"\0" * 5, content_type="application/dns-message", parameter="dns"),
        Case(415, body=dns_query("host.test"), content_type="text/plain",
             parameter="Content-Type"),
        Case(415, body=dns_query("host.test"), parameter="Content-Type"),
        Case(200, body=dns_query("host.test"), content_type="application/dns-message",
             token="none", check=_check_doh(0, 1, "max-age=300")),
        Case(413, big_body=True, parameter="body"),
    ],
    "checkPolicy": [
        Case(200, "?target=169.254.169.254", check=_check_denied),
        Case(200, "?target=%5B::1%5D", check=_check_ipv6),
        Case(400, "", parameter="target"),
        Case(400, "?target=", parameter="target"),
        Case(400, "?target=10.1", parameter="target"),
        Case(400, "?target=exa..mple.com", parameter="target"),
        Case(400, "?target=10.0.0.0/8", parameter="target"),
        Case(401, "?target=192.0.2.1", token="none", parameter="Authorization"),
        Case(401, "?target=192.0.2.1", token="wrong", parameter="Authorization"),
        Case(413, "?target=192.0.2.1", big_body=True, parameter="body"),
    ],
    "debugDelay": [
        Case(200, "?ms=50", check=_check_delay(50)),
        Case(200, "", check=_check_delay(0)),
        Case(400, "?ms=abc", parameter="ms"),
        Case(400, "?ms=-1", parameter="ms"),
        Case(400, "?ms=", parameter="ms"),
        Case(400, lambda: "?ms=%d" % _param_bound("DelayMs", "maximum", 1)(), parameter="ms"),
        Case(401, "?ms=0", token="none", parameter="Authorization"),
        Case(413, "?ms=0", big_body=True, parameter="body"),
    ],
}

# Documented statuses checked by another test class, or not reproducible on
# demand; every entry must still be documented.
_SHUTDOWN = "ShutdownTest: in flight when the shutdown grace period ends"
COVERED_ELSEWHERE = {
    ("getReadiness", "503"): "ShutdownTest: readiness while draining",
    ("debugDelay", "503"): _SHUTDOWN,
    ("dnsLookup", "503"): _SHUTDOWN,
    ("dnsBatch", "503"): _SHUTDOWN,
    ("reverseLookup", "503"): _SHUTDOWN,
    ("dohGet", "503"): _SHUTDOWN,
    ("dohPost", "503"): _SHUTDOWN,
    ("tcpExchange", "503"): _SHUTDOWN,
    ("scanGet", "503"): _SHUTDOWN,
    ("fetchGet", "503"): _SHUTDOWN,
    ("fetchPost", "503"): _SHUTDOWN,
    ("scanPost", "503"): _SHUTDOWN,
    ("udpExchange", "503"): _SHUTDOWN,
    ("debugDelay", "404"): "NoDebugEndpointsTest: the service without --debug-endpoints",
}
_RATE_LIMITED = "RateLimitTest: the service with --rate-limit, the client's bucket empty"
COVERED_ELSEWHERE.update({(op_id, "429"): _RATE_LIMITED for op_id in (
    "dnsLookup", "dnsBatch", "reverseLookup", "dohGet", "dohPost", "checkPolicy",
    "tcpExchange", "udpExchange", "scanGet", "scanPost", "fetchGet", "fetchPost",
    "debugDelay")})
_CAPPED = ("each query's timeout_ms is capped at --max-timeout-ms and the deadline is "
           "--max-timeout-ms + 5 s, so only a stalled event loop gets it")
UNREACHABLE = {
    ("getMetrics", "500"): "only when memory runs out while rendering",
    ("checkPolicy", "500"): "only when memory runs out while building the answer",
    ("debugDelay", "504"): "ms is capped at --max-timeout-ms and the deadline is "
                           "--max-timeout-ms + 5 s, so only a stalled event loop gets it",
    ("dnsLookup", "504"): _CAPPED + " (comparisons run their queries at once)",
    ("dnsBatch", "504"): _CAPPED + " (a batch runs its queries at once)",
    ("dohGet", "504"): _CAPPED,
    ("dohPost", "504"): _CAPPED,
    ("tcpExchange", "504"): _CAPPED,
    ("fetchGet", "504"): _CAPPED,
    ("fetchPost", "504"): _CAPPED,
    ("scanGet", "504"): "a scan stops 200 ms before the request's own deadline and answers "
                        "with what it has (complete: false)",
    ("scanPost", "504"): "a scan stops 200 ms before the request's own deadline and answers "
                         "with what it has (complete: false)",
    ("udpExchange", "504"): _CAPPED,
    ("reverseLookup", "504"): "needs a PTR answer and then forward lookups (confirm=1) "
                              "whose times add up to more than --max-timeout-ms + 5 s: "
                              "over 10 s of waiting, too slow for this test",
}


class LiveConformanceTest(unittest.TestCase):
    svc = None
    dns = None

    @classmethod
    def setUpClass(cls):
        cls.doc = spec()
        cls.dns = FakeDns()
        try:
            cls.svc = Service(["--auth-token", TOKEN, "--cors-origin", ORIGIN,
                               "--dns-server", cls.dns.server,
                               "--default-timeout-ms", "1000"]).start()
        except BaseException:
            cls.dns.close()
            raise
        cls.port = cls.svc.port

    @classmethod
    def tearDownClass(cls):
        cls.dns.close()
        if cls.svc is not None:
            rc = cls.svc.stop()
            out = cls.svc.output()
            cls.svc.close()
            if rc != 0:
                raise AssertionError("netprobe exited with %s after SIGTERM:\n%s" % (rc, out))

    def run_case(self, op_id, case):
        method, path, op = operation_by_id(self.doc, op_id)
        query, headers, body = case.request(self.dns.server)
        token = case.token
        if token == "default":
            token = "valid" if is_secured(self.doc, op) else "none"
        if token == "valid":
            headers["Authorization"] = "Bearer " + TOKEN
        elif token == "wrong":
            headers["Authorization"] = "Bearer not-" + TOKEN
        r = http_request(self.port, method, path + query, headers, body,
                         content_length=(1 << 20) + 1 if case.big_body else None)
        what = "%s %s%s %s" % (method, path, query, (body or b"")[:80])
        self.assertEqual(r.status, case.status, "%s: body %r" % (what, r.body[:300]))
        if body is not None and r.status < 300:
            content = deref(self.doc, op["requestBody"])["content"]
            self.assertTrue(any(media_matches(mt, headers["Content-Type"]) for mt in content),
                            "%s: request Content-Type not documented" % what)
            self.assertEqual(schema_errors(self.doc, json.loads(body) if is_json_media(
                headers["Content-Type"]) else body.decode("latin-1"),
                content[headers["Content-Type"]]["schema"]), [], what)
        check_against_contract(self, self.doc, op, r, headers.get("X-Request-Id"),
                               case.parameter)
        if case.check is not None:
            case.check(self, r)
        return r

    def test_every_documented_status_has_a_live_case(self):
        for method, path, op in operations(self.doc):
            op_id = op["operationId"]
            documented = set(op["responses"])
            sampled = {str(c.status) for c in CASES.get(op_id, [])}
            exempt = {s for (o, s) in list(COVERED_ELSEWHERE) + list(UNREACHABLE) if o == op_id}
            self.assertEqual(sampled & exempt, set(), op_id)
            self.assertEqual(sampled | exempt, documented,
                             "%s %s: documented statuses vs the live cases and exemptions"
                             % (method, path))
        for op_id in list(CASES) + [o for o, _s in list(COVERED_ELSEWHERE) + list(UNREACHABLE)]:
            operation_by_id(self.doc, op_id)

    def test_operations_answer_as_documented(self):
        for op_id, cases in CASES.items():
            for case in cases:
                with self.subTest(operation=op_id, status=case.status, query=case.query):
                    self.run_case(op_id, case)

    def test_head_answers_like_get_without_a_body(self):
        for method, path, op in operations(self.doc):
            if method != "GET" or any(deref(self.doc, p).get("required")
                                      for p in op.get("parameters", [])):
                continue
            with self.subTest(path=path):
                r = http_request(self.port, "HEAD", path,
                                 {"Authorization": "Bearer " + TOKEN})
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, b"")
                content = deref(self.doc, op["responses"]["200"])["content"]
                self.assertTrue(any(media_matches(mt, r.header("Content-Type"))
                                    for mt in content), r.header("Content-Type"))

    def test_security_matches_the_route_table(self):
        """bearerAuth operations answer 401 without a token; the others do not."""
        for method, path, op in operations(self.doc):
            with self.subTest(path=path):
                r = http_request(self.port, method, path)
                if is_secured(self.doc, op):
                    self.assertEqual(r.status, 401, path)
                    check_against_contract(self, self.doc, op, r, parameter="Authorization")
                    self.assertEqual(r.header("WWW-Authenticate"), 'Bearer realm="netprobe"')
                else:
                    self.assertNotEqual(r.status, 401, path)

    def test_unknown_path_is_404_problem(self):
        nf = self.doc["components"]["responses"]["NotFound"]
        for target in ("/nope", "/healthz/", "/policy", "/debug/delay/x"):
            with self.subTest(target=target):
                r = http_request(self.port, "GET", target)
                self.assertEqual(r.status, 404)
                self.assertEqual(media_type(r.header("Content-Type"))[0],
                                 "application/problem+json")
                check_against_response(self, self.doc, nf, r)
                body = r.json()
                self.assertTrue(body["type"].endswith("/not-found"))
                for field in deref(self.doc, self.doc["components"]["schemas"]["Problem"])[
                        "required"]:
                    self.assertIn(field, body)

    def test_other_methods_are_405_problem_with_allow(self):
        mna = self.doc["components"]["responses"]["MethodNotAllowed"]
        for method, path, op in operations(self.doc):
            for other in ("POST", "PUT", "DELETE", "PATCH"):
                if other.lower() in self.doc["paths"][path]:
                    continue
                with self.subTest(path=path, method=other):
                    r = http_request(self.port, other, path,
                                     {"Authorization": "Bearer " + TOKEN})
                    self.assertEqual(r.status, 405)
                    check_against_response(self, self.doc, mna, r)
                    allowed = sorted(m.upper() for m in self.doc["paths"][path]
                                     if m in HTTP_METHODS)
                    if "GET" in allowed:
                        allowed = sorted(allowed + ["HEAD"])
                    self.assertEqual(sorted(m.strip() for m in r.header("Allow").split(",")),
                                     allowed)

    def test_request_id(self):
        pattern = self.doc["components"]["headers"]["X-Request-Id"]["schema"]["pattern"]
        ids = set()
        for sent in (None, "has space", "x" * 129, "", "ok-" + "x" * 125):
            headers = {} if sent is None else {"X-Request-Id": sent}
            r = http_request(self.port, "GET", "/healthz", headers)
            rid = r.header("X-Request-Id")
            self.assertRegex(rid, pattern)
            if sent is not None and re.match(pattern, sent):
                self.assertEqual(rid, sent)
            else:
                self.assertNotEqual(rid, sent)
                self.assertNotIn(rid, ids, "generated request ids must differ")
            ids.add(rid)

    def test_cors(self):
        r = http_request(self.port, "GET", "/healthz", {"Origin": ORIGIN})
        self.assertEqual(r.header("Access-Control-Allow-Origin"), ORIGIN)
        self.assertIn("Origin", r.header("Vary") or "")
        self.assertIn("X-Request-Id", r.header("Access-Control-Expose-Headers") or "")
        r = http_request(self.port, "GET", "/healthz", {"Origin": "http://other.test"})
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        # The preflight needs no token, even for a secured operation.
        r = http_request(self.port, "OPTIONS", "/policy/check",
                         {"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
                          "Access-Control-Request-Headers": "authorization"})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header("Allow"), "GET, HEAD")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), ORIGIN)
        self.assertIn("GET", r.header("Access-Control-Allow-Methods") or "")
        self.assertIn("Authorization", r.header("Access-Control-Allow-Headers") or "")
        self.assertIsNotNone(r.header("X-Request-Id"))
        r = http_request(self.port, "OPTIONS", "/nope", {"Origin": ORIGIN})
        self.assertEqual(r.status, 404)


class NoDebugEndpointsTest(unittest.TestCase):
    def test_debug_paths_are_404_without_debug_endpoints(self):
        doc = spec()
        svc = Service(debug=False).start()
        try:
            for method, path, op in operations(doc):
                if "debug" not in op.get("tags", []):
                    continue
                r = http_request(svc.port, method, path)
                self.assertEqual(r.status, 404, path)
                check_against_contract(self, doc, op, r)
        finally:
            rc = svc.stop()
            out = svc.output()
            svc.close()
        self.assertEqual(rc, 0, out)


class RateLimitTest(unittest.TestCase):
    """--rate-limit: once the client's bucket is empty, every operation that
    is not an ops one answers the documented 429; the ops ones never do."""

    def test_rate_limited_operations(self):
        doc = spec()
        dns = FakeDns()
        svc = None
        try:
            svc = Service(["--rate-limit", "1", "--rate-burst", "1", "--dns-server",
                           dns.server, "--default-timeout-ms", "1000"]).start()
            self.check_operations(doc, svc, dns)
        finally:
            dns.close()
            if svc is not None:
                rc = svc.stop()
                out = svc.output()
                svc.close()
                self.assertEqual(rc, 0, out)

    def check_operations(self, doc, svc, dns):
        for method, path, op in operations(doc):
            op_id = op["operationId"]
            limited = "ops" not in op["tags"]
            with self.subTest(operation=op_id):
                self.assertEqual("429" in op["responses"], limited,
                                 "%s: 429 is documented exactly on the operations that "
                                 "are not ops ones" % op_id)
                # The operation's first sample that succeeds, as the request.
                case = next(c for c in CASES[op_id] if c.status == 200)
                query, headers, body = case.request(dns.server)
                # A token comes back every second: a slow run may see an
                # answer before the 429, never more than a few.
                for _attempt in range(5):
                    r = http_request(svc.port, method, path + query, headers, body)
                    if r.status == 429:
                        break
                if not limited:
                    self.assertNotEqual(r.status, 429, op_id)
                    continue
                self.assertEqual(r.status, 429, r.body[:300])
                check_against_contract(self, doc, op, r)
                self.assertEqual(r.header("Retry-After"), "1")
                self.assertTrue(r.json()["type"].endswith("/rate-limited"))


class ShutdownTest(unittest.TestCase):
    """SIGTERM: readiness turns 503, every kind of request still in flight when
    the grace period ends gets 503, and the process exits 0."""

    # (operationId, query, body, content type): each waits on a timer or on a
    # DNS server that never answers, far longer than the grace period.
    IN_FLIGHT = [
        ("debugDelay", "?ms=20000", None, None),
        ("dnsLookup", "?name=slow.test&timeout_ms=20000&tries=1", None, None),
        ("dnsBatch", "", {"queries": ["slow.test"], "timeout_ms": 20000, "tries": 1}, None),
        ("reverseLookup", "?ip=192.0.2.99&timeout_ms=20000&tries=1", None, None),
        ("dohGet", "?dns=" + _DOH_SLOW, None, None),
        ("dohPost", "", dns_query("slow.test"), "application/dns-message"),
        # peers test_drain holds open and silent
        ("tcpExchange", "", {"host": "127.0.0.1", "port": "{silent_tcp}"}, None),
        ("udpExchange", "", {"host": "127.0.0.1", "port": "{silent_udp}"}, None),
        # an open port that never speaks, with a long banner wait
        ("scanGet", "?host=127.0.0.1&banner=1&banner_ms=5000&ports={silent_tcp}", None, None),
        ("fetchGet", "?url=http%3A%2F%2F127.0.0.1%3A{silent_tcp}%2F", None, None),
        ("fetchPost", "", {"url": "http://127.0.0.1:{silent_tcp_in}/"}, None),
        ("scanPost", "", {"host": "127.0.0.1", "ports": ["{silent_tcp}"], "banner": True,
                          "banner_ms": 5000}, None),
    ]

    def test_drain(self):
        doc = spec()
        dns = FakeDns()
        svc = None
        # A TCP peer that accepts (the kernel does) and never speaks, and a
        # UDP peer that never answers.
        silent_tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        silent_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            silent_tcp.bind(("127.0.0.1", 0))
            silent_tcp.listen(8)
            silent_udp.bind(("127.0.0.1", 0))
            self.silent = {b'"{silent_tcp}"': silent_tcp.getsockname()[1],
                           b'"{silent_udp}"': silent_udp.getsockname()[1],
                           b'{silent_tcp_in}': silent_tcp.getsockname()[1]}
            svc = Service(["--shutdown-grace", "2000", "--auth-token", TOKEN,
                           "--dns-server", dns.server, "--default-timeout-ms", "20000"]).start()
            self.drain(doc, svc)
        finally:
            dns.close()
            silent_tcp.close()
            silent_udp.close()
            if svc is not None:
                svc.close()

    def drain(self, doc, svc):
        auth = {"Authorization": "Bearer " + TOKEN}
        # A kept-alive connection still works once new connections are refused.
        keep = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=REQUEST_TIMEOUT_S)
        self.assertEqual(http_request(svc.port, "GET", "/readyz", conn=keep).status, 200)
        answers = {}

        def waiter(op_id, target, method, headers, body):
            try:
                answers[op_id] = http_request(svc.port, method, target, headers, body)
            except Exception as e:  # reported below
                answers[op_id] = e

        threads = []
        for op_id, query, body, ctype in self.IN_FLIGHT:
            method, path, _op = operation_by_id(doc, op_id)
            headers = dict(auth)
            if body is not None and not isinstance(body, bytes):
                body = json.dumps(body).encode()
                for placeholder, port in self.silent.items():
                    body = body.replace(placeholder, str(port).encode())
                headers["Content-Type"] = "application/json"
            if ctype is not None:
                headers["Content-Type"] = ctype
            for placeholder, port in self.silent.items():
                query = query.replace(placeholder.decode().strip('"'), str(port))
            t = threading.Thread(target=waiter, daemon=True,
                                 args=(op_id, path + query, method, headers, body))
            t.start()
            threads.append(t)
        deadline = time.monotonic() + 5
        want = len(self.IN_FLIGHT) + 1  # and the /metrics request itself
        while time.monotonic() < deadline:
            m = http_request(svc.port, "GET", "/metrics", conn=keep).body.decode()
            got = re.search(r"(?m)^netprobe_http_requests_in_flight ([0-9]+)$", m)
            if got and int(got.group(1)) >= want:
                break
            time.sleep(0.02)
        else:
            self.fail("the requests never were all in flight: %s" % answers)
        t0 = time.monotonic()
        svc.proc.send_signal(signal.SIGTERM)
        ready = None
        while time.monotonic() < t0 + 1.5:
            ready = http_request(svc.port, "GET", "/readyz", conn=keep)
            if ready.status != 200:
                break
            time.sleep(0.02)
        keep.close()
        _m, _p, op = operation_by_id(doc, "getReadiness")
        self.assertEqual(ready.status, 503)
        check_against_contract(self, doc, op, ready)
        self.assertEqual(ready.header("Retry-After"), "1")

        for t in threads:
            t.join(STOP_TIMEOUT_S)
        for op_id, _q, _b, _c in self.IN_FLIGHT:
            with self.subTest(operation=op_id):
                r = answers.get(op_id)
                self.assertIsInstance(r, Response, "%s: %r" % (op_id, r))
                self.assertEqual(r.status, 503, r.body)
                check_against_contract(self, doc, operation_by_id(doc, op_id)[2], r)
        self.assertLess(time.monotonic() - t0, 6, "the grace period is 2 s")
        rc = svc.proc.wait(STOP_TIMEOUT_S)
        self.assertEqual(rc, 0, svc.output())


if __name__ == "__main__":
    unittest.main()
