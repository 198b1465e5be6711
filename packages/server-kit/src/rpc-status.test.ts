import { Writable } from "node:stream";
import { status as Status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  AlreadyExistsError,
  CancelledError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
} from "./errors.js";
import { createLogger } from "./logger.js";
import { INTERNAL_ERROR_MESSAGE, RpcStatusError, toRpcStatus } from "./rpc-status.js";

function capturingLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger({ name: "test", destination }), lines };
}

describe("toRpcStatus", () => {
  it.each([
    [new InvalidArgumentError("email is not a valid address", "email"), Status.INVALID_ARGUMENT],
    [new NotFoundError('user "42" not found'), Status.NOT_FOUND],
    [new AlreadyExistsError("taken"), Status.ALREADY_EXISTS],
    [new FailedPreconditionError("not now"), Status.FAILED_PRECONDITION],
    [new PermissionDeniedError("admins only"), Status.PERMISSION_DENIED],
    [new UnauthenticatedError("no token"), Status.UNAUTHENTICATED],
    [new ResourceExhaustedError("slow down"), Status.RESOURCE_EXHAUSTED],
    [new UnavailableError("database unreachable"), Status.UNAVAILABLE],
    [new CancelledError("gone"), Status.CANCELLED],
    [new RpcStatusError(Status.ABORTED, "conflict, retry"), Status.ABORTED],
  ])("maps %s to its code and keeps its message", (error, code) => {
    const { log, lines } = capturingLogger();
    const status = toRpcStatus(error, log, "/x.Y/Z");
    expect(status.code).toBe(code);
    expect(status.details).toBe(error.message);
    expect(lines).toEqual([]);
  });

  it("maps a subclass by its kind, so services can name their own errors", () => {
    class UserNotFoundError extends NotFoundError {}
    const { log } = capturingLogger();
    expect(toRpcStatus(new UserNotFoundError('user "1" not found'), log, "/m").code).toBe(Status.NOT_FOUND);
  });

  it.each([new Error("password=hunter2"), new TypeError("x is undefined"), "a thrown string", { weird: true }])(
    "turns anything else (%s) into INTERNAL with a generic message and logs the detail",
    async (thrown) => {
      const { log, lines } = capturingLogger();
      const status = toRpcStatus(thrown, log, "/user.UserService/GetUser");
      expect(status.code).toBe(Status.INTERNAL);
      expect(status.details).toBe(INTERNAL_ERROR_MESSAGE);
      await new Promise((resolve) => log.flush(resolve));
      expect(lines.join("")).toContain("/user.UserService/GetUser");
      if (thrown instanceof Error) expect(lines.join("")).toContain(thrown.message);
    },
  );
});
