// Development only: bundles dev/server.ts (the fake backend) and runs it. `node dev/run.mjs [port]`.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL("..", import.meta.url));
await esbuild.build({
  absWorkingDir: here,
  entryPoints: ["dev/server.ts"],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile: ".dev-build/server.mjs",
  packages: "external",
  logLevel: "warning",
});
await import(new URL("../.dev-build/server.mjs", import.meta.url).href);
