import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createSecureServer,
  createServer as createHttp2Server,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { DescFile, JsonReadOptions, JsonWriteOptions } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { healthV1 } from "@polyrpc/proto";
import { ActiveCalls } from "../active-calls.js";
import type { ImplementedService } from "../call-context.js";
import type { CallHook } from "../call-hooks.js";
import type { ServerLimits } from "../config.js";
import { ResetBudget } from "../http2-session-guard.js";
import type { Logger } from "../logger.js";
import type { ServerTls } from "../server-tls.js";
import { ServerHandle } from "../shutdown.js";
import { applyCors, respondEmpty } from "./cors.js";
import { checkEnvelopeFlags } from "./envelope-flags.js";
import { respellGrpcMessages } from "./grpc-message.js";
import { connectHandlers } from "./handler-context.js";
import { ConnectHealth } from "./health.js";
import { addConnectReflection } from "./reflection.js";
import { errorInterceptor, hooksInterceptor, trackingInterceptor } from "./service-adapter.js";
import { manageSession } from "./session-limits.js";
import { endUnreadRequests } from "./unread-requests.js";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

export interface ConnectServerOptions {
  host: string;
  /** 0 picks a free port; `ServerHandle.port` tells which. */
  port: number;
  services: readonly ImplementedService[];
  /** For the JSON codec (Connect and gRPC-Web with JSON): the types `Any` fields may hold, say. */
  jsonOptions?: Partial<JsonReadOptions & JsonWriteOptions>;
  /** The generated files the services come from, for reflection. */
  files: readonly DescFile[];
  limits: ServerLimits;
  log: Logger;
  /** Browser origins allowed by CORS ("*" for any); none by default. */
  corsOrigins?: readonly string[];
  /** Steps every call of `services` goes through before its handler (see call-hooks.ts). */
  hooks?: readonly CallHook[];
  /** TLS (and mTLS) on the port: HTTP/2 and HTTP/1.1 by ALPN. Plaintext when omitted. */
  tls?: ServerTls;
  /** Answers requests that are not RPCs (a web page, say); 404 when omitted. */
  fallback?: (req: Req, res: Res) => void;
}

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");

/**
 * A connect-node server speaking gRPC, gRPC-Web and Connect on one plaintext port: HTTP/2 (h2c,
 * what gRPC clients use) and HTTP/1.1 (what browsers use without TLS) are told apart by the
 * connection's first bytes. It serves grpc.health.v1 and grpc.reflection (v1, v1alpha), maps
 * domain errors to codes, enforces message, stream and connection-age limits, and drains on
 * shutdown like the grpc-js server.
 */
export async function startConnectServer(options: ConnectServerOptions): Promise<ServerHandle> {
  const { limits, log } = options;
  const serviceNames = options.services.map((s) => s.descriptor.typeName);
  const health = new ConnectHealth(serviceNames);
  const activeCalls = new ActiveCalls();

  /** Answers a request for a method this server lacks (or for no method at all). */
  const unknownMethod = (req: Req, res: Res) => {
    const contentType = req.headers["content-type"] ?? "";
    const stream = (res as Partial<Http2ServerResponse>).stream;
    if (stream && /^application\/grpc(\+|;|$)/.test(contentType)) {
      // A gRPC call to a method this server lacks: answer as gRPC servers do, with a
      // trailers-only UNIMPLEMENTED, not the bare 404 that gRPC clients would have to translate.
      stream.respond(
        {
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": "12",
          "grpc-message": encodeURIComponent(`unknown method ${req.url ?? ""}`),
        },
        { endStream: true },
      );
    } else if (options.fallback) options.fallback(req, res);
    else respondEmpty(res, 404);
  };

  const handler = connectNodeAdapter({
    routes: (router) => {
      for (const { descriptor, handlers } of options.services) router.service(descriptor, connectHandlers(handlers));
      router.service(healthV1.Health, health.implementation());
      addConnectReflection(router, options.files, [...serviceNames, healthV1.Health.typeName]);
    },
    // The first interceptor is the outermost: tracking sees the codes the error mapping chose.
    interceptors: [
      trackingInterceptor(activeCalls, new Set(serviceNames), log),
      hooksInterceptor(options.hooks ?? [], new Set(serviceNames), log),
      errorInterceptor(log),
    ],
    ...(options.jsonOptions && { jsonOptions: options.jsonOptions }),
    readMaxBytes: limits.MAX_RECEIVE_MESSAGE_BYTES,
    writeMaxBytes: limits.MAX_SEND_MESSAGE_BYTES,
    fallback: (req, res) => unknownMethod(req, res as unknown as Res),
  });
  const corsOrigins = options.corsOrigins ?? [];
  const serve = (req: Req, res: Res) => {
    // A stream its client already reset (rapid reset), or that guardSession reset (metadata past
    // the limit): starting a handler for it is wasted work.
    const stream = (req as Partial<Http2ServerRequest>).stream;
    if (stream?.destroyed || stream?.closed) return;
    if (applyCors(corsOrigins, req, res)) return;
    // connect-node finds a method by the path without its query string, where a Connect GET
    // carries its message. gRPC and gRPC-Web have no query: `/pkg.Service/Method?x` is no method
    // of theirs, and is answered as an unknown one, as grpc-js does, so that a handler is never
    // reached under a path other than its own (which a proxy's rules on exact paths would miss).
    if (req.url?.includes("?") && /^application\/grpc(-web(-text)?)?(\+|;|$)/.test(req.headers["content-type"] ?? "")) {
      return unknownMethod(req, res);
    }
    checkEnvelopeFlags(req);
    if (/^application\/grpc(\+|;|$)/.test(req.headers["content-type"] ?? "")) respellGrpcMessages(res);
    endUnreadRequests(req, res);
    handler(req, res);
  };

  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  const trackSocket = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  // The metadata bound (MAX_METADATA_BYTES and _ENTRIES): Node refuses a request past either, on
  // HTTP/2 by its settings and on HTTP/1.1 with 431.
  const settings = {
    maxConcurrentStreams: limits.MAX_CONCURRENT_STREAMS,
    maxHeaderListSize: limits.MAX_METADATA_BYTES,
  };
  const maxHeaderListPairs = limits.MAX_METADATA_ENTRIES;
  const resets = new ResetBudget();
  const http1Server = createHttp1Server(
    { headersTimeout: limits.HANDSHAKE_TIMEOUT_MS, maxHeaderSize: limits.MAX_METADATA_BYTES },
    serve,
  );
  http1Server.maxHeadersCount = maxHeaderListPairs;
  let listener: NetServer;
  if (options.tls) {
    const { cert, key, clientCa } = options.tls;
    const tlsServer = createSecureServer(
      {
        cert,
        key,
        ca: clientCa,
        requestCert: !!clientCa,
        rejectUnauthorized: !!clientCa,
        allowHTTP1: true,
        settings,
        maxHeaderListPairs,
        handshakeTimeout: limits.HANDSHAKE_TIMEOUT_MS,
      },
      serve,
    );
    tlsServer.on("secureConnection", trackSocket);
    watchSessions(tlsServer);
    listener = tlsServer;
  } else {
    const http2Server = createHttp2Server({ settings, maxHeaderListPairs }, serve);
    watchSessions(http2Server);
    listener = createNetServer((socket) => {
      trackSocket(socket);
      // A connection that sends nothing is closed; HTTP/2 and HTTP/1.1 take over the timing after.
      const handshake = setTimeout(() => socket.destroy(), limits.HANDSHAKE_TIMEOUT_MS).unref();
      socket.once("close", () => clearTimeout(handshake));
      socket.once("readable", () => {
        clearTimeout(handshake);
        const head: Buffer | null = socket.read(HTTP2_PREFACE.length) ?? socket.read();
        if (head === null) return socket.destroy();
        socket.unshift(head);
        const target = head.equals(HTTP2_PREFACE.subarray(0, head.length)) ? http2Server : http1Server;
        target.emit("connection", socket);
      });
    });
  }
  function watchSessions(server: Http2Server | Http2SecureServer) {
    server.on("session", (session) => {
      sessions.add(session);
      session.once("close", () => sessions.delete(session));
      manageSession(session, limits, resets, log);
    });
  }
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(options.port, options.host, () => resolve());
  });
  const address = listener.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  log.info(
    {
      host: options.host,
      port,
      tls: options.tls ? (options.tls.clientCa ? "mtls" : "tls") : "off",
      services: serviceNames,
    },
    "Connect server listening (gRPC, gRPC-Web, Connect)",
  );

  let closedPromise: Promise<void> = Promise.resolve();
  return new ServerHandle(
    port,
    !!options.tls,
    health,
    activeCalls,
    {
      stopAccepting() {
        closedPromise = new Promise((resolve) => listener.close(() => resolve()));
        for (const session of sessions) session.close();
        http1Server.closeIdleConnections();
        // HTTP/1.1 connections close after their current response.
        http1Server.on("request", (_req, res) => res.setHeader("Connection", "close"));
      },
      closed: () => closedPromise,
      forceClose() {
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      },
    },
    limits,
    log,
  );
}
