import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The console's page (README, "The console"): built into dist/console-web, which the console
// server (src/console/server.ts) serves. No CDN, nothing fetched at run time.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("../dist/console-web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
});
