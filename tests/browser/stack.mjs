// The real stack for the browser and API client tests, without a browser: starts
// target/debug/e2e-stack (PostgreSQL database, litellm-sim, budget-service, gateway) and offers
// its seeding and litellm-sim control. No dependencies beyond Node, so the API client tests
// (tests/api) use it too.
//
// The stack binary is built by `cargo build -p budget-e2e --bin e2e-stack`; E2E_STACK_BIN
// overrides its path.

import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../..");
export const targetDir = process.env.CARGO_TARGET_DIR ? resolve(repoRoot, process.env.CARGO_TARGET_DIR) : join(repoRoot, "target");
export const stackBin = process.env.E2E_STACK_BIN ?? join(targetDir, "debug", "e2e-stack");

// ---------------------------------------------------------------------------
// The stack.

/**
 * Starts e2e-stack and waits for its JSON line. Returns its addresses plus seeding and sim helpers.
 * `stop()` closes its stdin (it drops its database) and waits for it to exit.
 */
export async function startStack({ cacheTtlSecs, bin = stackBin } = {}) {
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: run \`cargo build -p budget-e2e --bin e2e-stack\` in ${repoRoot} first`);
  }
  const args = cacheTtlSecs === undefined ? [] : ["--cache-ttl-secs", String(cacheTtlSecs)];
  const child = spawn(bin, args, {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  // Keep the end of its log for failure messages; print it live with BROWSER_TEST_LOGS=1.
  let logTail = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    if (process.env.BROWSER_TEST_LOGS) process.stderr.write(chunk);
    logTail = (logTail + chunk).slice(-20_000);
  });
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, "line").then(([line]) => line),
    exited.then(([code, signal]) => {
      throw new Error(`e2e-stack exited (${code ?? signal}) before it was ready:\n${logTail}`);
    }),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`e2e-stack not ready in 60 s:\n${logTail}`)), 60_000).unref()),
  ]);
  lines.on("line", () => {}); // keep draining stdout
  const info = JSON.parse(first);

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    const timeout = (ms) => new Promise((r) => setTimeout(() => r("timeout"), ms).unref());
    if ((await Promise.race([exited, timeout(20_000)])) === "timeout") {
      child.kill("SIGTERM");
      if ((await Promise.race([exited, timeout(10_000)])) === "timeout") child.kill("SIGKILL");
    }
  }

  const control = (path, body) => postJson(`${info.control_url}${path}`, body);
  const simHeaders = { authorization: `Bearer ${info.sim_master_key}` };
  const sim = {
    /** The key's snapshot (max_budget, soft_budget, spend, budget_reset_at, ...). */
    key: (key) => getJson(`${info.sim_url}/sim/keys/${encodeURIComponent(key)}`, simHeaders),
    setSpend: (key, spend) => postJson(`${info.sim_url}/sim/keys/${encodeURIComponent(key)}/spend`, { spend }, simHeaders),
    /** fault: status_500, hang, slow (delay_ms), malformed_json, truncated_json, connection_reset, not_found. */
    addFault: (fault) => postJson(`${info.sim_url}/sim/faults`, fault, simHeaders),
    clearFaults: () => request(`${info.sim_url}/sim/faults`, { method: "DELETE", headers: simHeaders }),
    now: async () => new Date((await getJson(`${info.sim_url}/sim/clock`, simHeaders)).now),
  };

  const started = {
    ...info,
    /** The e2e-stack process (gateway, budget-service and litellm-sim in one). */
    pid: child.pid,
    sim,
    /** Creates an API token: role platform_admin | tenant_admin | service; returns its value. */
    createToken: async (name, role, tenantId) =>
      (await control("/tokens", { name, role, ...(tenantId ? { tenant_id: tenantId } : {}) })).token,
    /** Creates a tenant (see budget_demo::TenantSeed); returns {virtual_key, key_hash}. */
    seedTenant: (seed) => control("/tenants", seed),
    /** Seeds acme, globex, initech, umbrella and hooli; returns {tenant id: virtual key}. */
    seedDemo: () => control("/demo", {}),
    logTail: () => logTail,
    stop,
  };
  return started;
}

async function request(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

function getJson(url, headers = {}) {
  return request(url, { headers });
}

function postJson(url, body, headers = {}) {
  return request(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}
