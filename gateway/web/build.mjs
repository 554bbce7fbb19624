// Builds the dashboard into dist/ (index.html + assets/app-<hash>.js/.css), deterministically.
//
//   node build.mjs           build into dist/ (replacing it)
//   node build.mjs --check   build into a temp dir; exit 1 when it differs from dist/
//   node build.mjs --tests   bundle test/*.test.ts into .test-build/ for `node --test`
import * as esbuild from "esbuild";
import { mkdtemp, readFile, readdir, rm, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const dist = join(here, "dist");

/** Bundles src/main.ts and writes index.html pointing at the hashed files. */
async function build(outDir) {
  await rm(outDir, { recursive: true, force: true });
  const result = await esbuild.build({
    absWorkingDir: here,
    entryPoints: { app: "src/main.ts" },
    bundle: true,
    minify: true,
    format: "esm",
    target: ["es2022", "chrome100", "firefox100", "safari15"],
    outdir: join(outDir, "assets"),
    entryNames: "[name]-[hash]",
    assetNames: "[name]-[hash]",
    metafile: true,
    legalComments: "eof",
    charset: "utf8",
    logLevel: "warning",
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((f) => f.endsWith(".js"));
  const css = outputs.find((f) => f.endsWith(".css"));
  if (!js || !css) throw new Error(`expected one .js and one .css output, got ${outputs.join(", ")}`);
  const template = await readFile(join(here, "src/index.html"), "utf8");
  await writeFile(join(outDir, "index.html"), template.replace("%JS%", js).replace("%CSS%", css));
}

async function listFiles(dir, base = dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(p, base)));
    else out.push(relative(base, p));
  }
  return out.sort();
}

async function check() {
  const tmp = await mkdtemp(join(tmpdir(), "dashboard-build-"));
  try {
    await build(tmp);
    const [want, have] = [await listFiles(tmp), await listFiles(dist)];
    const problems = [];
    for (const f of new Set([...want, ...have])) {
      if (!want.includes(f)) problems.push(`dist/${f} is not produced by the build (stale)`);
      else if (!have.includes(f)) problems.push(`dist/${f} is missing`);
      else if (!(await readFile(join(tmp, f))).equals(await readFile(join(dist, f)))) problems.push(`dist/${f} differs`);
    }
    if (problems.length > 0) {
      console.error(`dist/ is out of date; run \`npm run build\` and commit dist/:\n  ${problems.join("\n  ")}`);
      process.exit(1);
    }
    console.log(`dist/ matches the sources (${want.length} files)`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function buildTests() {
  const outDir = join(here, ".test-build");
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const tests = (await readdir(join(here, "test"))).filter((f) => f.endsWith(".test.ts"));
  await esbuild.build({
    absWorkingDir: here,
    entryPoints: tests.map((f) => join("test", f)),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    packages: "external",
    logLevel: "warning",
  });
}

const arg = process.argv[2];
if (arg === "--check") await check();
else if (arg === "--tests") await buildTests();
else if (arg === undefined) {
  await build(dist);
  for (const f of await listFiles(dist)) {
    const body = await readFile(join(dist, f));
    console.log(`dist/${f}  ${body.length} B, ${gzipSync(body, { level: 9 }).length} B gzipped`);
  }
} else {
  console.error(`unknown option ${arg}`);
  process.exit(2);
}
