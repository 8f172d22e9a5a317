// The dashboard is served by fleetpulse itself at "/": assets go to /assets/ with hashed names.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    target: "es2020",
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npx vite` during development: API calls go to a local fleetpulse.
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
});
