// Builds the browser chat page into dist/web: index.html and chat.css as they are, and
// web/chat-page.ts bundled with @connectrpc/connect-web by esbuild into chat.js. The server
// (src/web-page.ts) serves these files; nothing is bundled at start-up.
import { copyFileSync, mkdirSync } from "node:fs";
import { build } from "esbuild";

mkdirSync("dist/web", { recursive: true });
await build({
  entryPoints: ["web/chat-page.ts"],
  outfile: "dist/web/chat.js",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: false,
  logLevel: "warning",
});
for (const file of ["index.html", "chat.css"]) copyFileSync(`web/${file}`, `dist/web/${file}`);
