// dashboard.js - the page at / : forms that call netprobe's own API (same
// origin) and show what it answered. Every value from an answer is put in
// the page as text (textContent), never as markup: DNS data is written by
// whoever runs the zone, and a TXT record may well hold "<script>".
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  // el("td", {class: "x"}, "text", child, ...): an element with text children.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const k of kids) {
      if (k === undefined || k === null) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }

  // Replaces what an output area shows; null entries are parts left out.
  function show(out, ...nodes) {
    out.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
  }

  // The token box: kept for this tab only.
  const TOKEN_KEY = "netprobe.token";
  function token() {
    return $("token").value.trim();
  }

  // Calls the API. Resolves to {ok, status, body, requestId}; body is the
  // parsed JSON (or null), ok is false for a problem+json or any non-2xx.
  async function call(method, path, body) {
    const headers = { Accept: "application/json" };
    if (token() !== "") headers.Authorization = "Bearer " + token();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (err) {
      return { ok: false, status: 0, body: null, requestId: "", network: String(err) };
    }
    const text = await res.text();
    let parsed = null;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch (err) {
      parsed = null;
    }
    return {
      ok: res.ok,
      status: res.status,
      body: parsed,
      text,
      requestId: res.headers.get("X-Request-Id") || "",
    };
  }

  // What a failed call shows: the problem document's words and parameter.
  function problemView(r) {
    if (r.status === 0) {
      return el("div", { class: "problem" },
        el("strong", { class: "problem-title" }, "No answer from netprobe"),
        el("div", { class: "problem-detail" }, r.network || ""));
    }
    const p = r.body && typeof r.body === "object" ? r.body : {};
    return el("div", { class: "problem", "data-status": r.status },
      el("strong", { class: "problem-title" }, r.status + " " + (p.title || "error")),
      el("div", { class: "problem-detail" }, p.detail || r.text || ""),
      p.parameter ? el("div", { class: "problem-param" }, "parameter: ", el("code", {}, p.parameter)) : null,
      r.requestId ? el("div", { class: "muted" }, "request " + r.requestId) : null);
  }

  function busy(out) {
    show(out, el("div", { class: "muted busy" }, "working…"));
  }

  function fmtMs(v) {
    return typeof v === "number" ? v.toFixed(3) + " ms" : "";
  }

  // The finding of a probe that ran but did not get an answer.
  function findingView(res) {
    if (!res || res.status === "ok" || !res.error) return null;
    return el("div", { class: "finding" },
      el("strong", {}, res.error.code || "error"), " ", res.error.message || "");
  }

  function flagsText(flags) {
    if (!flags) return "";
    return Object.entries(flags).filter(([, v]) => v).map(([k]) => k).join(" ");
  }

  function rrTable(section, rrs) {
    const t = el("table", { class: "rrs", "data-section": section },
      el("caption", {}, section + " (" + rrs.length + ")"),
      el("thead", {}, el("tr", {},
        el("th", {}, "name"), el("th", {}, "ttl"), el("th", {}, "class"),
        el("th", {}, "type"), el("th", {}, "data"))));
    const tb = el("tbody", {});
    for (const rr of rrs) {
      tb.append(el("tr", {},
        el("td", { class: "rr-name" }, rr.name),
        el("td", { class: "rr-ttl" }, rr.ttl),
        el("td", { class: "rr-class" }, rr.class),
        el("td", { class: "rr-type" }, rr.type),
        el("td", { class: "rr-data" }, rr.data)));
    }
    t.append(tb);
    return t;
  }

  function rawJson(body) {
    return el("details", { class: "raw" }, el("summary", {}, "JSON"),
      el("pre", {}, JSON.stringify(body, null, 2)));
  }

  // One DNS result (DnsResult in openapi.yaml).
  function dnsResultView(res, requestId) {
    const q = res.query || {};
    const summary = el("div", { class: "summary" },
      el("span", { class: "status", "data-status": res.status }, res.status),
      res.rcode ? el("span", { class: "rcode" }, res.rcode) : null,
      el("span", { class: "flags" }, flagsText(res.flags)),
      el("span", { class: "server" }, (q.server || "") + " " + (q.transport || "")),
      el("span", { class: "time" }, fmtMs(res.timing && res.timing.total_ms)),
      requestId ? el("span", { class: "muted" }, "request " + requestId) : null);
    const parts = [summary, findingView(res)];
    for (const s of ["answer", "authority", "additional"]) {
      if (Array.isArray(res[s]) && res[s].length > 0) parts.push(rrTable(s, res[s]));
    }
    if (res.status === "ok" && (res.answer || []).length === 0) {
      parts.push(el("div", { class: "muted no-answer" }, "no answer records"));
    }
    return el("div", { class: "result" }, ...parts);
  }

  function params(pairs) {
    const u = new URLSearchParams();
    for (const [k, v] of pairs) {
      if (v !== undefined && v !== null && v !== "") u.append(k, v);
    }
    return u.toString();
  }

  // ---- the forms ----

  async function onDns(ev) {
    ev.preventDefault();
    const out = $("dns-out");
    busy(out);
    const qs = params([
      ["name", $("dns-name").value.trim()],
      ["type", $("dns-type").value.trim()],
      ["server", $("dns-server").value.trim()],
      ["transport", $("dns-transport").value],
      ["timeout_ms", $("dns-timeout").value.trim()],
      ["rd", $("dns-rd").checked ? "1" : "0"],
      ["cd", $("dns-cd").checked ? "1" : "0"],
      ["do", $("dns-do").checked ? "1" : "0"],
    ]);
    const r = await call("GET", "/dns?" + qs);
    if (!r.ok) return show(out, problemView(r));
    show(out, dnsResultView(r.body, r.requestId), rawJson(r.body));
  }

  async function onCompare(ev) {
    ev.preventDefault();
    const out = $("cmp-out");
    busy(out);
    const qs = params([
      ["name", $("cmp-name").value.trim()],
      ["type", $("cmp-type").value.trim()],
      ["servers", $("cmp-servers").value.replace(/\s+/g, "")],
    ]);
    const r = await call("GET", "/dns?" + qs);
    if (!r.ok) return show(out, problemView(r));
    const b = r.body;
    const t = el("table", { class: "compare" },
      el("thead", {}, el("tr", {},
        el("th", {}, "server"), el("th", {}, "status"), el("th", {}, "rcode"),
        el("th", {}, "time"), el("th", {}, "answer"))));
    const tb = el("tbody", {});
    for (const res of b.results || []) {
      tb.append(el("tr", {},
        el("td", { class: "cmp-server" }, res.query ? res.query.server : ""),
        el("td", { class: "cmp-status" }, res.status),
        el("td", { class: "cmp-rcode" }, res.rcode || (res.error ? res.error.code : "")),
        el("td", {}, fmtMs(res.timing && res.timing.total_ms)),
        el("td", { class: "cmp-answer" }, (res.answer || []).map((a) => a.data).join(", "))));
    }
    t.append(tb);
    show(out,
      el("div", { class: "summary" },
        el("span", { class: "agree", "data-agree": b.agree ? "1" : "0" },
          b.agree ? "the resolvers agree" : "the resolvers differ"),
        el("span", { class: "muted" }, "request " + r.requestId)),
      t, rawJson(b));
  }

  async function onRdns(ev) {
    ev.preventDefault();
    const out = $("rdns-out");
    busy(out);
    const qs = params([
      ["ip", $("rdns-ip").value.trim()],
      ["confirm", $("rdns-confirm").checked ? "1" : "0"],
    ]);
    const r = await call("GET", "/rdns?" + qs);
    if (!r.ok) return show(out, problemView(r));
    const b = r.body;
    const conf = b.confirmation;
    const byName = new Map(((conf && conf.names) || []).map((n) => [n.name, n]));
    const list = el("ul", { class: "ptr-names" });
    for (const name of b.names || []) {
      const c = byName.get(name);
      list.append(el("li", { class: "ptr-name" },
        el("span", { class: "ptr-target" }, name),
        c ? el("span", { class: c.confirmed ? "confirmed" : "unconfirmed" },
          c.confirmed ? " maps back" : " does not map back",
          c.addresses && c.addresses.length ? " (" + c.addresses.join(", ") + ")" : "") : null));
    }
    show(out,
      el("div", { class: "summary" },
        el("span", { class: "status", "data-status": b.status }, b.status),
        b.rcode ? el("span", { class: "rcode" }, b.rcode) : null,
        el("span", {}, "asked "), el("code", { class: "ptr-asked" }, b.ptr_name),
        conf ? el("span", { class: "fcrdns", "data-confirmed": conf.confirmed ? "1" : "0" },
          conf.confirmed ? "forward-confirmed" : "not forward-confirmed") : null,
        el("span", { class: "muted" }, "request " + r.requestId)),
      findingView(b),
      (b.names || []).length ? list : el("div", { class: "muted no-answer" }, "no PTR names"),
      rawJson(b));
  }

  async function onBatch(ev) {
    ev.preventDefault();
    const out = $("batch-out");
    const names = $("batch-names").value.split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== "");
    if (names.length === 0) return show(out, el("div", { class: "problem" }, "no names"));
    busy(out);
    const r = await call("POST", "/dns", { type: $("batch-type").value.trim(), queries: names });
    if (!r.ok) return show(out, problemView(r));
    const t = el("table", { class: "batch" },
      el("thead", {}, el("tr", {},
        el("th", {}, "name"), el("th", {}, "status"), el("th", {}, "rcode"),
        el("th", {}, "time"), el("th", {}, "answer"))));
    const tb = el("tbody", {});
    for (const res of r.body.results || []) {
      tb.append(el("tr", {},
        el("td", { class: "b-name" }, res.query ? res.query.name : ""),
        el("td", { class: "b-status" }, res.status),
        el("td", { class: "b-rcode" }, res.rcode || (res.error ? res.error.code : "")),
        el("td", {}, fmtMs(res.timing && res.timing.total_ms)),
        el("td", { class: "b-answer" }, (res.answer || []).map((a) => a.type + " " + a.data).join(", "))));
    }
    t.append(tb);
    show(out,
      el("div", { class: "summary" }, el("span", {}, r.body.count + " names"),
        el("span", { class: "muted" }, "request " + r.requestId)),
      t, rawJson(r.body));
  }

  // "\r\n" typed as four characters becomes CR LF, as in a shell's printf.
  function unescapeControls(text) {
    return text.replace(/\\([rnt\\])/g, (m, c) => ({ r: "\r", n: "\n", t: "\t", "\\": "\\" })[c]);
  }

  function bytesView(cls, b) {
    return el("pre", { class: cls, "data-encoding": b.encoding },
      b.encoding === "base64" ? "(base64) " + b.data : b.data);
  }

  async function onRaw(ev) {
    ev.preventDefault();
    const out = $("raw-out");
    const proto = $("raw-proto").value;
    busy(out);
    const body = { host: $("raw-host").value.trim(), port: Number($("raw-port").value) };
    const data = $("raw-data").value;
    if (data !== "") body.data = unescapeControls(data);
    if ($("raw-max").value.trim() !== "") body.max_bytes = Number($("raw-max").value);
    if ($("raw-timeout").value.trim() !== "") body.timeout_ms = Number($("raw-timeout").value);
    if (proto === "tcp" && $("raw-half-close").checked) body.half_close = true;
    const r = await call("POST", "/" + proto, body);
    if (!r.ok) return show(out, problemView(r));
    const b = r.body;
    const parts = [
      el("div", { class: "summary" },
        el("span", { class: "status", "data-status": b.status }, b.status),
        el("span", { class: "raw-peer" }, (b.address || b.target.host) + " port " + b.target.port),
        el("span", { class: "ended-by" }, "ended by " + b.ended_by),
        el("span", {}, b.sent.bytes + " bytes sent"),
        el("span", { class: "time" }, fmtMs(b.timing && b.timing.total_ms)),
        el("span", { class: "muted" }, "request " + r.requestId)),
      findingView(b),
    ];
    if (b.received) {
      parts.push(el("div", { class: "muted" }, b.received.bytes + " bytes received" +
        (b.received.truncated ? " (cut at max bytes)" : "")));
      parts.push(bytesView("raw-received", b.received));
    }
    for (const d of b.datagrams || []) {
      parts.push(el("div", { class: "muted" }, "datagram, " + d.bytes + " bytes, " + fmtMs(d.rtt_ms) +
        (d.truncated ? " (cut at max bytes)" : "")));
      parts.push(bytesView("raw-datagram", d));
    }
    parts.push(rawJson(b));
    show(out, ...parts);
  }

  async function onFetch(ev) {
    ev.preventDefault();
    const out = $("fetch-out");
    busy(out);
    const qs = params([
      ["url", $("fetch-url").value.trim()],
      ["method", $("fetch-method").value],
      ["follow", $("fetch-follow").value.trim()],
      ["http_version", $("fetch-version").value],
      ["insecure", $("fetch-insecure").checked ? "1" : "0"],
    ]);
    const r = await call("GET", "/fetch?" + qs);
    if (!r.ok) return show(out, problemView(r));
    const b = r.body;
    const t = b.timing || {};
    const phases = ["resolve_ms", "connect_ms", "tls_ms", "ttfb_ms", "total_ms"]
      .filter((k) => typeof t[k] === "number")
      .map((k) => k.replace("_ms", "") + " " + fmtMs(t[k])).join(", ");
    const parts = [
      el("div", { class: "summary" },
        el("span", { class: "status", "data-status": b.status }, b.status),
        b.status_code ? el("span", { class: "fetch-code" }, "HTTP " + b.status_code) : null,
        b.http_version ? el("span", { class: "fetch-version" }, "HTTP/" + b.http_version) : null,
        b.address ? el("span", {}, b.address) : null,
        el("span", { class: "muted" }, "request " + r.requestId)),
      findingView(b),
      el("div", { class: "fetch-timing muted" }, phases),
    ];
    for (const h of b.redirects || []) {
      parts.push(el("div", { class: "fetch-redirect" }, h.status_code + " " + h.url + " \u2192 " + h.location));
    }
    if (b.tls) {
      const c = b.tls.certificate || {};
      parts.push(el("div", { class: "fetch-tls" },
        el("span", { class: b.tls.verified ? "confirmed" : "unconfirmed" },
          b.tls.verified ? "certificate verified" : "certificate not verified" +
            (b.tls.verify_error ? " (" + b.tls.verify_error + ")" : "")),
        " " + b.tls.version + " " + (b.tls.cipher || "") +
          (c.subject ? "; subject " + c.subject : "") + (c.issuer ? "; issuer " + c.issuer : "") +
          (typeof c.days_left === "number" ? "; expires in " + c.days_left + " days" : "")));
    }
    if (b.headers) {
      const ht = el("table", { class: "fetch-headers" });
      const tb = el("tbody", {});
      for (const [k, v] of b.headers) tb.append(el("tr", {}, el("td", {}, k), el("td", {}, v)));
      ht.append(tb);
      parts.push(ht);
    }
    if (b.body) {
      parts.push(el("div", { class: "muted" }, b.body.bytes + " bytes of body" +
        (b.body.truncated ? " (cut)" : "")));
      parts.push(bytesView("fetch-body", b.body));
    }
    parts.push(rawJson(b));
    show(out, ...parts);
  }

  async function onScan(ev) {
    ev.preventDefault();
    const out = $("scan-out");
    busy(out);
    const qs = params([
      ["host", $("scan-host").value.trim()],
      ["ports", $("scan-ports").value.replace(/\s+/g, "")],
      ["concurrency", $("scan-concurrency").value.trim()],
      ["timeout_ms", $("scan-timeout").value.trim()],
      ["banner", $("scan-banner").checked ? "1" : "0"],
    ]);
    const r = await call("GET", "/scan?" + qs);
    if (!r.ok) return show(out, problemView(r));
    const b = r.body;
    const t = el("table", { class: "scan" },
      el("thead", {}, el("tr", {},
        el("th", {}, "port"), el("th", {}, "service"), el("th", {}, "connect"),
        el("th", {}, "banner"))));
    const tb = el("tbody", {});
    for (const o of b.open || []) {
      tb.append(el("tr", {},
        el("td", { class: "s-port" }, o.port),
        el("td", { class: "s-service" }, o.service || ""),
        el("td", {}, fmtMs(o.rtt_ms)),
        el("td", { class: "s-banner" }, o.banner ? (o.banner.encoding === "base64" ?
          "(base64) " + o.banner.data : o.banner.data) : "")));
    }
    t.append(tb);
    show(out,
      el("div", { class: "summary" },
        el("span", { class: "status", "data-status": b.status }, b.status),
        el("span", { class: "scan-counts" }, (b.open || []).length + " open, " + b.closed + " closed, " +
          b.filtered + " filtered" + (b.unscanned ? ", " + b.unscanned + " not scanned" : "")),
        el("span", { class: "scan-complete", "data-complete": b.complete ? "1" : "0" },
          b.complete ? "complete" : "incomplete"),
        el("span", { class: "time" }, fmtMs(b.timing && b.timing.total_ms)),
        el("span", { class: "muted" }, "request " + r.requestId)),
      findingView(b),
      (b.open || []).length ? t : el("div", { class: "muted no-answer" }, "no open port"),
      rawJson(b));
  }

  async function onPolicy(ev) {
    ev.preventDefault();
    const out = $("policy-out");
    busy(out);
    const r = await call("GET", "/policy/check?" + params([["target", $("policy-target").value.trim()]]));
    if (!r.ok) return show(out, problemView(r));
    const b = r.body;
    const rows = (b.addresses && b.addresses.length) ? b.addresses : [b];
    const list = el("ul", { class: "verdicts" });
    for (const a of rows) {
      list.append(el("li", { class: a.allowed ? "allowed" : "denied" },
        el("code", {}, a.address || b.target), " ", a.verdict || (a.allowed ? "allow" : "deny"),
        a.rule ? " (rule " + a.rule + ")" : "", a.reason ? ": " + a.reason : ""));
    }
    show(out,
      el("div", { class: "summary" },
        el("span", { class: "verdict", "data-allowed": b.allowed ? "1" : "0" },
          b.allowed ? "allowed" : "denied"),
        el("span", { class: "muted" }, "request " + r.requestId)),
      list, rawJson(b));
  }

  async function loadVersion() {
    const r = await call("GET", "/version");
    if (r.ok && r.body && r.body.version) $("version").textContent = "v" + r.body.version;
  }

  document.addEventListener("DOMContentLoaded", () => {
    try {
      $("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (err) {
      // storage may be off; the box still works for this page
    }
    $("token").addEventListener("change", () => {
      try {
        sessionStorage.setItem(TOKEN_KEY, token());
      } catch (err) {
        // as above
      }
    });
    $("dns-form").addEventListener("submit", onDns);
    $("cmp-form").addEventListener("submit", onCompare);
    $("rdns-form").addEventListener("submit", onRdns);
    $("batch-form").addEventListener("submit", onBatch);
    $("policy-form").addEventListener("submit", onPolicy);
    $("raw-form").addEventListener("submit", onRaw);
    $("scan-form").addEventListener("submit", onScan);
    $("fetch-form").addEventListener("submit", onFetch);
    document.body.dataset.ready = "1";
    loadVersion();
  });
})();
