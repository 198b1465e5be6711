import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const webDir = join(dirname(fileURLToPath(import.meta.url)), "../web");

interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The browser chat page (web/): index.html, its stylesheet, and chat-page.ts bundled with
 * @connectrpc/connect-web by esbuild once, at start-up, into memory. Nothing is built ahead of
 * time, so the page always matches the code it ships with.
 */
export async function loadWebPage(): Promise<
  (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void
> {
  const bundle = await build({
    entryPoints: [join(webDir, "chat-page.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: false,
    write: false,
    logLevel: "silent",
  });
  const assets = new Map<string, Asset>([
    ["/", { body: await readFile(join(webDir, "index.html")), type: "text/html; charset=utf-8" }],
    ["/chat.css", { body: await readFile(join(webDir, "chat.css")), type: "text/css; charset=utf-8" }],
    ["/chat.js", { body: Buffer.from(bundle.outputFiles[0]!.contents), type: "text/javascript; charset=utf-8" }],
  ]);
  return (req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const asset = req.method === "GET" || req.method === "HEAD" ? assets.get(path) : undefined;
    if (!asset) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, {
      "Content-Type": asset.type,
      "Content-Length": asset.body.length,
      "Cache-Control": "no-cache",
      "X-Content-Type-Options": "nosniff",
      "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'",
    });
    if (req.method === "HEAD") res.end();
    else res.end(asset.body);
  };
}
