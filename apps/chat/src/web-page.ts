import { access, readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Where `pnpm build` (scripts/build-web.mjs) puts the page; the same from src/ and from dist/. */
const webDir = join(dirname(fileURLToPath(import.meta.url)), "../dist/web");

interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The browser chat page (web/): index.html, its stylesheet, and chat-page.ts bundled with
 * @connectrpc/connect-web, as the package's build wrote them to dist/web, read into memory once
 * at start-up.
 */
export async function loadWebPage(): Promise<
  (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void
> {
  await access(join(webDir, "chat.js")).catch(() => {
    throw new Error(`the chat's browser page is not built (${webDir}): run \`pnpm --filter @polyrpc/chat build\``);
  });
  const assets = new Map<string, Asset>([
    ["/", { body: await readFile(join(webDir, "index.html")), type: "text/html; charset=utf-8" }],
    ["/chat.css", { body: await readFile(join(webDir, "chat.css")), type: "text/css; charset=utf-8" }],
    ["/chat.js", { body: await readFile(join(webDir, "chat.js")), type: "text/javascript; charset=utf-8" }],
  ]);
  return (req, response) => {
    // Both response types have these methods; their overloads differ too much for the union.
    const res = response as ServerResponse;
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
