// Sign-in and sessions as a browser sees them: a signed-out visitor gets the sign-in page only,
// the session cookie's flags, signing out, a tenant admin kept to its own tenant (pages, the
// picker and hand-made calls from the page's console), other sites' requests refused, and a
// session that works on every gateway sharing its key (extra budget-gateway processes started
// here, in front of the stack's budget-service).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import {
  assertNoProblems,
  closePage,
  encodeProto,
  frame,
  launchBrowser,
  newPage,
  screenshot,
  stackBin,
  startStack,
  text,
  waitReady,
} from "./harness.mjs";

/** The gateway binary next to e2e-stack (`cargo build -p budget-gateway`; the Rust tests build it). */
const gatewayBin = process.env.GATEWAY_BIN ?? join(dirname(stackBin), "budget-gateway");
const SESSION_KEY = Buffer.alloc(32, 7).toString("base64");
const OTHER_KEY = Buffer.alloc(32, 9).toString("base64");
const NOT_ACCEPTED = "That token was not accepted.";
const GRPC = { PERMISSION_DENIED: "7", UNAUTHENTICATED: "16" };

let stack;
let browser;
let acmeToken;
const gateways = [];

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
  await stack.seedDemo();
  acmeToken = await stack.createToken("acme-admin", "tenant_admin", "acme");
});

after(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await browser?.close();
  await stack?.stop();
});

/**
 * Starts another budget-gateway in front of the stack's budget-service and returns its URL.
 * Each one is stopped (SIGTERM to the process started here) after the tests.
 */
async function startGateway({ key, ttlSecs = 3600 }) {
  const child = spawn(gatewayBin, [], {
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      GATEWAY_ADDR: "127.0.0.1:0",
      // Several gateways run at once: each takes a free port for /metrics too.
      GATEWAY_METRICS_ADDR: "127.0.0.1:0",
      BUDGET_SERVICE_URL: `http://${stack.grpc_addr}`,
      GATEWAY_SESSION_KEY: key,
      GATEWAY_SESSION_TTL_SECS: String(ttlSecs),
      RUST_LOG: "info",
      NO_COLOR: "1",
    },
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  gateways.push({
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  });
  let log = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`budget-gateway did not start:\n${log}`)), 15_000);
    const onData = (chunk) => {
      log += chunk.toString("utf8").replace(/\x1b\[[0-9;]*m/g, "");
      const addr = /gateway listening.*?local_addr=(\S+)/.exec(log);
      if (addr) {
        clearTimeout(timer);
        resolve(`http://${addr[1]}`);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    exited.then((code) => reject(new Error(`budget-gateway exited (${code}):\n${log}`)));
  });
  return url;
}

/**
 * Serves `html` as another site: `localhost` is a different site from the gateway's
 * `127.0.0.1`, and on loopback too, so Chromium's private-network rules do not get in the way.
 */
async function serveOtherSite(html) {
  const server = createServer((_, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(html);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://localhost:${server.address().port}/`, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** Signs in through the form on `base`'s sign-in page, as a person would. */
async function signInWithForm(page, base, token) {
  await page.goto(`${base}/signin`);
  await page.getByLabel("API token").fill(token);
  await Promise.all([page.waitForURL(`${base}/**`), page.click("#signin-button")]);
}

/** The one session cookie of the page's context. */
async function sessionCookie(page) {
  const cookies = await page.context().cookies();
  assert.equal(cookies.length, 1, JSON.stringify(cookies));
  return cookies[0];
}

/** A gRPC-web call made by hand from the page's own JavaScript (as from its console). */
function callFromPage(page, method, message, headers = {}) {
  return page.evaluate(
    async ({ method, body, headers }) => {
      const res = await fetch(`/budget.v1.BudgetService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...headers },
        body: new Uint8Array(body),
      });
      const bytes = new Uint8Array(await res.arrayBuffer());
      let status = res.headers.get("grpc-status");
      let messages = 0;
      for (let i = 0; i + 5 <= bytes.length; ) {
        const len = new DataView(bytes.buffer, bytes.byteOffset + i + 1, 4).getUint32(0);
        const payload = bytes.subarray(i + 5, i + 5 + len);
        if (bytes[i] & 0x80) status = /grpc-status:\s*(\d+)/i.exec(new TextDecoder().decode(payload))?.[1] ?? status;
        else messages += 1;
        i += 5 + len;
      }
      return { http: res.status, status, messages };
    },
    { method, body: [...frame(message)], headers },
  );
}

const tenantRequest = (tenantId) => encodeProto([{ no: 1, wire: 2, value: Buffer.from(tenantId) }]);

test("a signed-out visitor sees only the sign-in page, and a bad token is refused", async () => {
  const page = await newPage(browser, { token: null });
  try {
    for (const path of ["/", "/tenants/acme"]) {
      await page.goto(`${stack.gateway_url}${path}`);
      assert.equal(new URL(page.url()).pathname, "/signin", path);
    }
    assert.equal(await text(page, "h1"), "Sign in");
    assert.equal(await page.locator("#fleet-table, #tenant-title, #tenant-picker").count(), 0);
    assert.equal(await page.locator("script").count(), 0, "the sign-in page runs no script");
    // The field is labelled and styled by the dashboard's stylesheet.
    assert.equal(await page.getByLabel("API token").getAttribute("type"), "password");
    const buttonBg = await page.locator("#signin-button").evaluate((b) => getComputedStyle(b).backgroundColor);
    assert.notEqual(buttonBg, "rgba(0, 0, 0, 0)");
    await screenshot(page, "signin");

    // The API answers UNAUTHENTICATED without a session or a token; a token the page sends
    // itself is the caller, as for any API caller (only a holder of the token can send it).
    const call = await callFromPage(page, "WhoAmI", Buffer.alloc(0));
    assert.deepEqual(call, { http: 200, status: GRPC.UNAUTHENTICATED, messages: 0 });
    const own = await callFromPage(page, "WhoAmI", Buffer.alloc(0), { authorization: `Bearer ${stack.platform_token}` });
    assert.deepEqual(own, { http: 200, status: "0", messages: 1 });

    await page.getByLabel("API token").fill("not-a-real-token");
    const [answer] = await Promise.all([page.waitForResponse(`${stack.gateway_url}/session`), page.click("#signin-button")]);
    assert.equal(answer.status(), 401);
    assert.equal(await text(page, "#signin-error"), NOT_ACCEPTED);
    assert.equal(await page.getByLabel("API token").getAttribute("aria-invalid"), "true");
    assert.deepEqual(await page.context().cookies(), []);
    await screenshot(page, "signin-refused");
    assertNoProblems(page, [/^HTTP 401 .*\/session$/]);
  } finally {
    await closePage(page);
  }
});

test("signing in sets a sealed HttpOnly SameSite=Strict cookie; signing out clears it", async () => {
  const page = await newPage(browser, { token: null });
  try {
    const before = Date.now() / 1000;
    await signInWithForm(page, stack.gateway_url, stack.platform_token);
    await waitReady(page);
    assert.equal(new URL(page.url()).pathname, "/");
    assert.match(await text(page, "#signed-in-as"), /^Signed in as .+ \(platform admin\)$/);
    assert.equal(await text(page, "#sign-out"), "Sign out");

    const cookie = await sessionCookie(page);
    assert.equal(cookie.name, "budget_session");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.equal(cookie.secure, false, "no Secure flag on a loopback gateway (plain HTTP)");
    assert.equal(cookie.path, "/");
    const twelveHours = 12 * 3600;
    assert.ok(Math.abs(cookie.expires - (before + twelveHours)) < 120, `expires ${cookie.expires}`);
    assert.ok(!cookie.value.includes(stack.platform_token), "the token is sealed");
    assert.equal(await page.evaluate(() => document.cookie), "", "the page cannot read the cookie");

    await Promise.all([page.waitForURL(`${stack.gateway_url}/signin`), page.click("#sign-out")]);
    assert.deepEqual(await page.context().cookies(), []);
    await page.goto(`${stack.gateway_url}/`);
    assert.equal(new URL(page.url()).pathname, "/signin");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("a tenant admin sees only its tenant: home page, picker and other tenants' pages", async () => {
  const page = await newPage(browser, { token: acmeToken });
  try {
    await page.goto(`${stack.gateway_url}/`);
    await waitReady(page);
    assert.equal(new URL(page.url()).pathname, "/tenants/acme", "its tenant is its home page");
    assert.equal(await text(page, "#tenant-title"), "Tenant acme");
    assert.equal(await text(page, "#signed-in-as"), "Signed in as acme-admin (tenant admin)");
    assert.equal(await page.locator(".crumbs").count(), 0, "no link to a fleet it cannot see");
    await page.locator("#current-spend").waitFor();

    // The picker offers acme alone.
    await page.fill("#tenant-picker-input", "glo");
    await page.waitForFunction(() => document.getElementById("tenant-picker-results")?.textContent === "No matching tenant");
    await page.fill("#tenant-picker-input", "a");
    await page.waitForFunction(() => document.querySelectorAll("#tenant-picker-results a").length === 1);
    assert.equal(await page.locator("#tenant-picker-results a").getAttribute("href"), "/tenants/acme");
    await screenshot(page, "tenant-admin");

    // Editing the address shows another tenant's page without any of its figures.
    await page.goto(`${stack.gateway_url}/tenants/globex`);
    await waitReady(page);
    assert.equal(await text(page, "#page-error"), "You do not have access to tenant globex.");
    for (const id of ["#usage", "#trend", "#alerts", "#config", "#audit"]) {
      assert.equal(await page.locator(id).isHidden(), true, id);
    }
    await screenshot(page, "tenant-admin-no-access");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("a tenant admin's hand-made calls for another tenant are refused, whatever the page sends", async () => {
  const page = await newPage(browser, { token: acmeToken });
  try {
    await page.goto(`${stack.gateway_url}/tenants/acme`);
    await waitReady(page);

    const own = await callFromPage(page, "GetBudgetStatus", tenantRequest("acme"));
    assert.deepEqual(own, { http: 200, status: "0", messages: 1 });
    for (const method of ["GetBudgetStatus", "GetBudgetConfig", "ListAlerts", "ListAuditEvents"]) {
      const other = await callFromPage(page, method, tenantRequest("globex"));
      assert.deepEqual(other, { http: 200, status: GRPC.PERMISSION_DENIED, messages: 0 }, method);
    }
    // A token the page adds is the caller instead of the session (never both): a page can only
    // send a token it holds, which works from curl as well. An unknown one is refused.
    const explicit = await callFromPage(page, "GetBudgetStatus", tenantRequest("globex"), {
      authorization: `Bearer ${stack.platform_token}`,
    });
    assert.equal(explicit.status, "0");
    const forged = await callFromPage(page, "GetBudgetStatus", tenantRequest("acme"), {
      authorization: "Bearer not-a-real-token",
    });
    assert.equal(forged.status, GRPC.UNAUTHENTICATED);
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("other sites can neither call the API nor sign a visitor in, and their links still open the dashboard", async () => {
  const other = await serveOtherSite(`<!doctype html><title>Another site</title>
    <a id="link" href="${stack.gateway_url}/tenants/acme">budgets</a>
    <form id="csrf" method="post" action="${stack.gateway_url}/session">
      <input name="token" value="${acmeToken}"></form>`);
  const page = await newPage(browser);
  try {
    const signedIn = await sessionCookie(page);
    await page.goto(other.url);

    // A "simple" request needs no CORS preflight, so the browser sends it: the gateway refuses.
    const [api] = await Promise.all([
      page.waitForResponse(`${stack.gateway_url}/budget.v1.BudgetService/WhoAmI`),
      page.evaluate((url) => fetch(url, { method: "POST", mode: "no-cors", credentials: "include", body: "x" }).catch(() => {}), `${stack.gateway_url}/budget.v1.BudgetService/WhoAmI`),
    ]);
    assert.equal(api.status(), 403);

    // A call carrying its own token (an API caller's, which the gateway lets through without
    // the cross-site check) needs a CORS preflight from another site; the gateway grants none,
    // so the browser never sends the call.
    const withToken = await page.evaluate(async (url) => {
      try {
        await fetch(url, { method: "POST", headers: { authorization: "Bearer x", "content-type": "application/json" }, body: "{}" });
        return "sent";
      } catch {
        return "blocked by the browser";
      }
    }, `${stack.gateway_url}/budget.v1.BudgetService/WhoAmI`);
    assert.equal(withToken, "blocked by the browser");

    // A form posting someone else's token (login CSRF) is refused and the session stays.
    const [signIn] = await Promise.all([page.waitForResponse(`${stack.gateway_url}/session`), page.locator("#csrf").evaluate((f) => f.submit())]);
    assert.equal(signIn.status(), 403);
    await page.waitForURL(`${stack.gateway_url}/session`);
    assert.equal(await page.locator("body").innerText(), "cross-site requests are refused");
    assert.deepEqual(await sessionCookie(page), signedIn);

    // SameSite=Strict keeps the cookie off a link from another site; the gateway asks again from
    // its own origin, so a signed-in person still lands on the page.
    await page.goto(other.url);
    const visits = [];
    page.on("request", (r) => {
      if (r.isNavigationRequest() && r.url() === `${stack.gateway_url}/tenants/acme`) visits.push(r.allHeaders());
    });
    await Promise.all([page.waitForURL(`${stack.gateway_url}/tenants/acme`), page.click("#link")]);
    await waitReady(page);
    assert.equal(await text(page, "#tenant-title"), "Tenant acme");
    const sent = await Promise.all(visits);
    assert.deepEqual(
      sent.map((h) => [h["sec-fetch-site"], /budget_session=/.test(h.cookie ?? "")]),
      [
        ["cross-site", false],
        ["same-origin", true],
      ],
    );
    // The refused preflight is the only other problem the page logs.
    assertNoProblems(page, [/^HTTP 403 /, /blocked by CORS policy/, /^request failed: .*WhoAmI net::ERR_FAILED$/]);
  } finally {
    await closePage(page);
    await other.close();
  }
});

test("a session works on every gateway sharing its key and on no other", async (t) => {
  if (!existsSync(gatewayBin)) {
    t.skip(`${gatewayBin} is missing: run \`cargo build -p budget-gateway\` first`);
    return;
  }
  const [first, second, otherKey] = await Promise.all([
    startGateway({ key: SESSION_KEY }),
    startGateway({ key: SESSION_KEY }),
    startGateway({ key: OTHER_KEY }),
  ]);
  const page = await newPage(browser, { token: null });
  try {
    await signInWithForm(page, first, acmeToken);
    await waitReady(page);
    assert.equal(new URL(page.url()).pathname, "/tenants/acme");

    // Cookies belong to the host, not the port: every gateway here gets the one cookie.
    await page.goto(`${second}/tenants/acme`);
    await waitReady(page);
    assert.equal(await text(page, "#signed-in-as"), "Signed in as acme-admin (tenant admin)");

    await page.goto(`${otherKey}/tenants/acme`);
    assert.equal(new URL(page.url()).pathname, "/signin", "another key cannot open the cookie");
    assert.equal(new URL(page.url()).origin, otherKey);
    const call = await callFromPage(page, "WhoAmI", Buffer.alloc(0));
    assert.equal(call.status, GRPC.UNAUTHENTICATED);
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});

test("when the session ends, the next call sends the page to sign-in", async (t) => {
  if (!existsSync(gatewayBin)) {
    t.skip(`${gatewayBin} is missing: run \`cargo build -p budget-gateway\` first`);
    return;
  }
  const shortLived = await startGateway({ key: SESSION_KEY, ttlSecs: 2 });
  const page = await newPage(browser, { token: null });
  try {
    await signInWithForm(page, shortLived, stack.platform_token);
    await waitReady(page);
    assert.equal(new URL(page.url()).pathname, "/");
    await page.waitForTimeout(2500);
    // Searching calls ListTenants; the session is over, so the answer is UNAUTHENTICATED.
    await Promise.all([page.waitForURL(`${shortLived}/signin`), page.fill("#fleet-search", "acme")]);
    assert.equal(await text(page, "h1"), "Sign in");
    assertNoProblems(page);
  } finally {
    await closePage(page);
  }
});
