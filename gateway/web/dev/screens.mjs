// Development only: screenshots of each page state against the fake server (node dev/run.mjs).
//   node dev/screens.mjs [baseUrl]   -> dev/screens/*.png, and console/CSP errors printed
import { chromium } from "playwright-core";
import { mkdir } from "node:fs/promises";

const base = process.argv[2] ?? "http://127.0.0.1:8087";
const out = new URL("./screens/", import.meta.url).pathname;
await mkdir(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const shots = (process.env.SHOTS ?? "fleet,acme,globex,initech,umbrella,hooli,newco,gone").split(",");
for (const [w, h] of [[1280, 800], [390, 844]]) {
  const page = await browser.newPage({ viewport: { width: w, height: h } });
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") console.log(`[${w}] console ${m.type()}: ${m.text()}`); });
  page.on("pageerror", (e) => console.log(`[${w}] pageerror: ${e.message}`));
  for (const name of shots) {
    const path = name === "fleet" ? "/" : `/tenants/${name}`;
    await page.goto(base + path);
    await page.waitForSelector("body[data-ready='1']", { timeout: 10000 }).catch(() => console.log(`${name}: not ready`));
    await page.waitForTimeout(300);
    const scrollW = await page.evaluate(() => document.documentElement.scrollWidth);
    if (scrollW > w) console.log(`[${w}] ${name}: horizontal scroll ${scrollW}`);
    await page.screenshot({ path: `${out}${name}-${w}.png`, fullPage: true });
  }
  await page.close();
}
await browser.close();
