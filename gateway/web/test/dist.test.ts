// Checks on the committed bundle in dist/: strict-CSP-safe index.html, same-origin assets, size budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const html = readFileSync(`${dist}index.html`, "utf8");

test("index.html has no inline script or style and loads only its own hashed assets", () => {
  assert.doesNotMatch(html, /<style/i);
  assert.doesNotMatch(html, /\sstyle=/i);
  assert.doesNotMatch(html, /\son[a-z]+=/i);
  for (const tag of html.match(/<script[^>]*>/gi) ?? []) assert.match(tag, /src="\/assets\/app-[A-Z0-9]+\.js"/);
  assert.match(html, /<link rel="stylesheet" href="\/assets\/app-[A-Z0-9]+\.css">/);
  assert.doesNotMatch(html, /https?:\/\//);
});

test("the bundle names no other origin and stays within 40 KB gzipped", () => {
  const assets = readdirSync(`${dist}assets`);
  assert.deepEqual(assets.map((f) => f.replace(/-[A-Z0-9]+\./, "-HASH.")).sort(), ["app-HASH.css", "app-HASH.js"]);
  let gz = 0;
  for (const f of assets) {
    const body = readFileSync(`${dist}assets/${f}`);
    assert.doesNotMatch(body.toString("utf8"), /https?:\/\/(?!www\.w3\.org)/, f);
    gz += gzipSync(body, { level: 9 }).length;
  }
  assert.ok(gz <= 40 * 1024, `JS + CSS are ${gz} bytes gzipped`);
});
