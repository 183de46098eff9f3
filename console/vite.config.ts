import { defineConfig } from "vitest/config";

// Served by the `console` function at /console (make dev too): same origin as the API.
export default defineConfig({
  base: "/console/",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: false },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
