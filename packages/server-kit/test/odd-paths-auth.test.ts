import { connect as http2Connect } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { status as Status } from "@grpc/grpc-js";
import { GetUserRequestSchema } from "@polyrpc/proto";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authHook } from "../src/auth/index.js";
import { HealthClient } from "@polyrpc/testing";
import { RUNTIMES, startUserServiceOn, type UserServiceOn } from "./user-service-on.js";

/**
 * B7 with authentication on: a server whose auth hook guards every UserService method gets
 * requests on odd spellings of `/user.UserService/GetUser`, with no credentials, with a bad one and
 * with a valid token. Only the method's own path may reach a handler (and only through the hook);
 * every other spelling is an unknown method, answered UNIMPLEMENTED whatever the credentials (the
 * method is looked up before any hook runs, so there is nothing to authenticate for), or refused by
 * HTTP/2 itself. No spelling reaches a handler, and the server stays SERVING.
 */

const SECRET = crypto.getRandomValues(new Uint8Array(32));
const ISSUER = "https://issuer.polyrpc.test";
const AUDIENCE = "polyrpc-test";
const METHOD = "/user.UserService/GetUser";

/** Every handler call, as `method:id`: none may happen but through the method's own path. */
const handlerRuns: string[] = [];
const impl = {
  async getUser(req: { id: string }) {
    handlerRuns.push(`GetUser:${req.id}`);
    return { id: req.id };
  },
  async deleteUser(req: { id: string }) {
    handlerRuns.push(`DeleteUser:${req.id}`);
    return { success: true };
  },
  async updateUser(req: { id: string }) {
    handlerRuns.push(`UpdateUser:${req.id}`);
    return { id: req.id };
  },
};

/** Spellings of the path that name no method: UNIMPLEMENTED, token or not. */
const UNKNOWN_METHOD_PATHS: Array<[string, string]> = [
  ["a double leading slash", `/${METHOD}`],
  ["a double slash before the method", "/user.UserService//GetUser"],
  ["a trailing slash", `${METHOD}/`],
  ["a percent-encoded slash", "/user.UserService%2FGetUser"],
  ["a lower-case percent-encoded slash", "/user.UserService%2fGetUser"],
  ["a percent-encoded letter in the service", "/%75ser.UserService/GetUser"],
  ["a percent-encoded letter in the method", "/user.UserService/Get%55ser"],
  ["a trailing encoded space", `${METHOD}%20`],
  ["a `..` segment back into the service", "/user.UserService/../user.UserService/GetUser"],
  ["a `..` segment from elsewhere", "/x/../user.UserService/GetUser"],
  ["`..` segments out of the public health service", "/grpc.health.v1.Health/../../user.UserService/GetUser"],
  ["a `..` segment toward another method", `${METHOD}/../DeleteUser`],
  ["a `.` segment", "/user.UserService/./GetUser"],
  ["an upper-case path", "/USER.USERSERVICE/GETUSER"],
  ["a lower-case path", "/user.userservice/getuser"],
  ["a capitalised package", "/User.UserService/GetUser"],
  ["the method's lowerCamel name", "/user.UserService/getUser"],
  ["the service without a method", "/user.UserService/"],
  ["the service without a slash", "/user.UserService"],
  ["the root", "/"],
  ["a query string", `${METHOD}?x=1`],
  ["an empty query string", `${METHOD}?`],
  ["a fragment", `${METHOD}#f`],
  ["a path parameter", `${METHOD};x=1`],
  ["a 4 KiB method name", `${METHOD}${"A".repeat(4096)}`],
];

/** Spellings HTTP/2 refuses before any gRPC server sees them: the stream is reset, no status. */
const REFUSED_PATHS: Array<[string, string]> = [
  ["no leading slash", METHOD.slice(1)],
  ["an asterisk", "*"],
  ["a 70 KiB path, past the header limits", `/${"a".repeat(70 * 1024)}`],
];

interface Answer {
  /** The grpc-status, if one came. */
  grpcStatus: number | undefined;
  /** The RST_STREAM code, when the stream closed without a status. */
  rstCode: number | undefined;
}

const body = (() => {
  const message = toBinary(GetUserRequestSchema, create(GetUserRequestSchema, { id: "42" }));
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
})();

/** One GetUser request sent raw to `path` on a fresh connection. */
function rawCall(address: string, path: string, authorization: string | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://${address}`);
    session.on("error", () => {});
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no answer for ${path.slice(0, 80)} within 5 s`));
    }, 5000);
    const finish = (answer: Answer) => {
      clearTimeout(timer);
      session.close();
      resolve(answer);
    };
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...(authorization === undefined ? {} : { authorization }),
    });
    let grpcStatus: number | undefined;
    const read = (headers: Record<string, unknown>) => {
      if (headers["grpc-status"] !== undefined) grpcStatus = Number(headers["grpc-status"]);
    };
    stream.on("response", read);
    stream.on("trailers", read);
    stream.on("data", () => {});
    stream.on("error", () => {});
    stream.on("close", () => finish({ grpcStatus, rstCode: grpcStatus === undefined ? stream.rstCode : undefined }));
    stream.end(body);
  });
}

async function validToken(): Promise<string> {
  return new SignJWT({ sub: "ada", roles: ["user"] })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(SECRET);
}

describe.each(RUNTIMES)("odd :path forms with authentication on %s", (runtime) => {
  let server: UserServiceOn;
  let credentials: Array<{ name: string; authorization: string | undefined }>;

  beforeAll(async () => {
    server = await startUserServiceOn(runtime, impl, {
      hooks: [authHook({ mode: "hs256", secret: SECRET, issuer: ISSUER, audience: AUDIENCE })],
    });
    credentials = [
      { name: "no credentials", authorization: undefined },
      { name: "a bad token", authorization: "Bearer not.a.jwt" },
      { name: "a valid token", authorization: `Bearer ${await validToken()}` },
    ];
  });
  afterAll(() => server.stop());

  it("lets the method's own path reach the handler only with a valid token (the control)", async () => {
    handlerRuns.length = 0;
    const [none, bad, valid] = credentials;
    expect(Status[(await rawCall(server.address, METHOD, none!.authorization)).grpcStatus!]).toBe("UNAUTHENTICATED");
    expect(Status[(await rawCall(server.address, METHOD, bad!.authorization)).grpcStatus!]).toBe("UNAUTHENTICATED");
    expect(handlerRuns).toEqual([]);
    expect(Status[(await rawCall(server.address, METHOD, valid!.authorization)).grpcStatus!]).toBe("OK");
    expect(handlerRuns).toEqual(["GetUser:42"]);
  });

  it.each(UNKNOWN_METHOD_PATHS)("answers %s with UNIMPLEMENTED whatever the credentials", async (_name, path) => {
    handlerRuns.length = 0;
    for (const { name, authorization } of credentials) {
      const answer = await rawCall(server.address, path, authorization);
      expect(answer.grpcStatus === undefined ? `reset ${answer.rstCode}` : Status[answer.grpcStatus], name).toBe(
        "UNIMPLEMENTED",
      );
    }
    expect(handlerRuns).toEqual([]);
  });

  it.each(REFUSED_PATHS)("resets the stream for %s, with no status and no handler", async (_name, path) => {
    handlerRuns.length = 0;
    for (const { name, authorization } of credentials) {
      const answer = await rawCall(server.address, path, authorization);
      expect(answer.grpcStatus, name).toBeUndefined();
      expect(answer.rstCode, name).toBeGreaterThan(0);
    }
    expect(handlerRuns).toEqual([]);
  });

  it("is still SERVING afterwards, and still authenticates", async () => {
    const health = new HealthClient(server.address);
    try {
      expect(await health.check("")).toBe("SERVING");
    } finally {
      health.close();
    }
    expect(Status[(await rawCall(server.address, METHOD, undefined)).grpcStatus!]).toBe("UNAUTHENTICATED");
  });
});
