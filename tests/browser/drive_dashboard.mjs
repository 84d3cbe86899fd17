// drive_dashboard.mjs - drives the dashboard at BASE (a netprobe the Python
// test started on 127.0.0.1) in Debian's chromium through playwright-core,
// and prints what the page showed as one JSON document on stdout. The
// assertions are in test_dashboard.py, which knows the DNS fixture.
//
//   node drive_dashboard.mjs BASE SCENARIO ARGS_JSON
//
// SCENARIO "main": every form once, with ARGS_JSON {"server": "ip:port"};
// SCENARIO "token": a service with --auth-token, ARGS_JSON {"token": "..."}.
// Only BASE is ever loaded; any request elsewhere is aborted and reported.
import { chromium } from "playwright-core";

const [base, scenario, argsJson] = process.argv.slice(2);
const args = JSON.parse(argsJson || "{}");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const STEP_MS = Number(process.env.STEP_TIMEOUT_MS || 15000);

const seen = { console_errors: [], page_errors: [], csp_violations: [], foreign_requests: [] };

// Submits a form and waits until its output shows a result or a problem.
async function submit(page, form, out) {
  await page.click(`#${form} button[type=submit]`);
  await page.waitForFunction((o) => {
    const e = document.getElementById(o);
    return e && e.querySelector(".busy") === null && e.children.length > 0;
  }, out, { timeout: STEP_MS });
}

// What an output area shows, read from the DOM as text.
async function read(page, out) {
  return page.evaluate((o) => {
    const root = document.getElementById(o);
    const text = (sel) => { const e = root.querySelector(sel); return e ? e.textContent : null; };
    const attr = (sel, a) => { const e = root.querySelector(sel); return e ? e.getAttribute(a) : null; };
    const rows = (sel) => [...root.querySelectorAll(sel)].map((tr) =>
      [...tr.querySelectorAll("td")].map((td) => td.textContent));
    const sections = {};
    for (const t of root.querySelectorAll("table.rrs")) {
      sections[t.dataset.section] = [...t.querySelectorAll("tbody tr")].map((tr) =>
        [...tr.querySelectorAll("td")].map((td) => td.textContent));
    }
    return {
      status: attr(".summary .status", "data-status"),
      rcode: text(".summary .rcode"),
      flags: text(".summary .flags"),
      server: text(".summary .server"),
      sections,
      no_answer: root.querySelector(".no-answer") !== null,
      finding: text(".finding"),
      problem: root.querySelector(".problem") === null ? null : {
        title: text(".problem-title"),
        detail: text(".problem-detail"),
        param: text(".problem-param code"),
        status: attr(".problem", "data-status"),
      },
      agree: attr(".agree", "data-agree"),
      compare: rows("table.compare tbody tr"),
      batch: rows("table.batch tbody tr"),
      ptr_asked: text(".ptr-asked"),
      ptr_names: [...root.querySelectorAll(".ptr-name")].map((li) => li.textContent),
      fcrdns: attr(".fcrdns", "data-confirmed"),
      verdict: attr(".verdict", "data-allowed"),
      verdicts: [...root.querySelectorAll(".verdicts li")].map((li) => [li.className, li.textContent]),
      ended_by: text(".ended-by"),
      scan_counts: text(".scan-counts"),
      fetch_code: text(".fetch-code"),
      fetch_body: text("pre.fetch-body"),
      fetch_headers: rows("table.fetch-headers tbody tr"),
      fetch_timing: text(".fetch-timing"),
      scan_complete: attr(".scan-complete", "data-complete"),
      scan_rows: rows("table.scan tbody tr"),
      raw_received: text("pre.raw-received"),
      raw_datagrams: [...root.querySelectorAll("pre.raw-datagram")].map((p) => p.textContent),
      request_id: (root.textContent.match(/request (\S+)/) || [null, null])[1],
      // markup that came from an answer would show up as elements here
      elements: [...root.querySelectorAll("img, script, iframe, object, embed")].length,
      raw: text("details.raw pre"),
      // everything shown but the raw JSON
      shown: [...root.childNodes].filter((n) => !(n.matches && n.matches("details.raw")))
        .map((n) => n.textContent).join(" "),
    };
  }, out);
}

async function fill(page, values) {
  for (const [id, v] of Object.entries(values)) {
    const sel = `#${id}`;
    if (typeof v === "boolean") {
      if (v) await page.check(sel); else await page.uncheck(sel);
    } else if (await page.evaluate((s) => document.querySelector(s).tagName, sel) === "SELECT") {
      await page.selectOption(sel, v);
    } else {
      await page.fill(sel, v);
    }
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // root in a container: no user namespaces for chromium's sandbox
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const result = { scenario };
  try {
    const page = await browser.newPage();
    page.on("console", (m) => { if (m.type() === "error") seen.console_errors.push(m.text()); });
    page.on("pageerror", (e) => seen.page_errors.push(String(e)));
    await page.route("**/*", (route) => {
      const u = route.request().url();
      if (u.startsWith(base + "/")) return route.continue();
      seen.foreign_requests.push(u);
      return route.abort();
    });
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => {
        (window.__np_csp = window.__np_csp || []).push(e.violatedDirective + " " + e.blockedURI);
      });
    });
    const resp = await page.goto(base + "/", { waitUntil: "load", timeout: STEP_MS });
    result.page_status = resp.status();
    result.csp_header = resp.headers()["content-security-policy"] || null;
    await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: STEP_MS });
    result.title = await page.title();
    await page.waitForFunction(() => document.getElementById("version").textContent !== "",
      null, { timeout: STEP_MS }).catch(() => {});
    result.version = await page.textContent("#version");

    if (scenario === "main") {
      const s = args.server;
      await fill(page, { "dns-name": "mx.np.test", "dns-type": "MX" });
      await submit(page, "dns-form", "dns-out");
      result.mx = await read(page, "dns-out");

      await fill(page, { "dns-name": "nope.np.test", "dns-type": "A", "dns-transport": "tcp" });
      await submit(page, "dns-form", "dns-out");
      result.nxdomain = await read(page, "dns-out");

      await fill(page, { "dns-name": "html.np.test", "dns-type": "TXT", "dns-transport": "udp" });
      await submit(page, "dns-form", "dns-out");
      result.html_txt = await read(page, "dns-out");
      result.xss_flag = await page.evaluate(() => window.__np_xss === undefined ? null : window.__np_xss);

      await fill(page, { "dns-name": "bad..name", "dns-type": "A" });
      await submit(page, "dns-form", "dns-out");
      result.bad_name = await read(page, "dns-out");

      await fill(page, { "dns-name": "www.np.test", "dns-type": "A", "dns-server": "169.254.169.254" });
      await submit(page, "dns-form", "dns-out");
      result.denied_server = await read(page, "dns-out");
      await fill(page, { "dns-server": "" });

      await fill(page, { "cmp-name": "www.np.test", "cmp-type": "A", "cmp-servers": `${s}, ${s}` });
      await submit(page, "cmp-form", "cmp-out");
      result.compare = await read(page, "cmp-out");

      await fill(page, { "rdns-ip": "127.0.0.10", "rdns-confirm": true });
      await submit(page, "rdns-form", "rdns-out");
      result.rdns_good = await read(page, "rdns-out");

      await fill(page, { "rdns-ip": "127.0.0.11", "rdns-confirm": true });
      await submit(page, "rdns-form", "rdns-out");
      result.rdns_bad = await read(page, "rdns-out");

      await fill(page, { "rdns-ip": "not-an-ip" });
      await submit(page, "rdns-form", "rdns-out");
      result.rdns_invalid = await read(page, "rdns-out");

      await fill(page, { "batch-names": "www.np.test\n\nnope.np.test\n  c1.np.test  ", "batch-type": "A" });
      await submit(page, "batch-form", "batch-out");
      result.batch = await read(page, "batch-out");

      await fill(page, { "fetch-url": `http://127.0.0.1:${args.http_port}/healthz` });
      await submit(page, "fetch-form", "fetch-out");
      result.fetch = await read(page, "fetch-out");

      await fill(page, { "scan-host": "127.0.0.1",
        "scan-ports": `${args.tcp_port}, ${args.http_port},${args.closed_port}` });
      await submit(page, "scan-form", "scan-out");
      result.scan = await read(page, "scan-out");

      await fill(page, { "raw-proto": "tcp", "raw-host": "127.0.0.1", "raw-port": String(args.tcp_port),
        "raw-data": "Hello from client" });
      await submit(page, "raw-form", "raw-out");
      result.raw_tcp = await read(page, "raw-out");

      // the seed's raw HTTP request, typed with \r\n as text, to netprobe itself
      await fill(page, { "raw-port": String(args.http_port), "raw-data": "GET /healthz HTTP/1.0\\r\\n\\r\\n",
        "raw-max": "4096" });
      await submit(page, "raw-form", "raw-out");
      result.raw_http = await read(page, "raw-out");

      await fill(page, { "raw-proto": "udp", "raw-port": String(args.udp_port), "raw-data": "Hello from client",
        "raw-max": "" });
      await submit(page, "raw-form", "raw-out");
      result.raw_udp = await read(page, "raw-out");

      await fill(page, { "raw-proto": "tcp", "raw-host": "169.254.169.254", "raw-port": "80" });
      await submit(page, "raw-form", "raw-out");
      result.raw_denied = await read(page, "raw-out");

      await fill(page, { "policy-target": "169.254.169.254" });
      await submit(page, "policy-form", "policy-out");
      result.policy_denied = await read(page, "policy-out");

      await fill(page, { "policy-target": "127.0.0.1" });
      await submit(page, "policy-form", "policy-out");
      result.policy_allowed = await read(page, "policy-out");
    } else if (scenario === "token") {
      await fill(page, { "dns-name": "www.np.test", "dns-type": "A" });
      await submit(page, "dns-form", "dns-out");
      result.without_token = await read(page, "dns-out");

      await fill(page, { token: args.token });
      await page.dispatchEvent("#token", "change");
      await submit(page, "dns-form", "dns-out");
      result.with_token = await read(page, "dns-out");

      // kept for the tab: a reload still has it
      await page.reload({ waitUntil: "load" });
      await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: STEP_MS });
      result.token_after_reload = await page.inputValue("#token");
    } else {
      throw new Error("unknown scenario " + scenario);
    }
    seen.csp_violations = await page.evaluate(() => window.__np_csp || []);
  } finally {
    await browser.close();
  }
  Object.assign(result, seen);
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((e) => {
  process.stderr.write("drive_dashboard: " + (e && e.stack ? e.stack : String(e)) + "\n");
  process.exit(1);
});
