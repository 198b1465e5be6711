import { trailingBinFor, UNKNOWN_ID, type CheckName, type Observation } from "./observation.js";

export type ServerName = "polyrpc" | "go" | "python";

/** What one check must observe on one server. */
export interface Expected {
  code: string;
  /** The exact status message, when it matters. */
  message?: string;
  /** Checks the value; returns what is wrong, or undefined. */
  value?: (value: unknown, context: Context) => string | undefined;
  /** Why this server differs from polyrpc, when it does. */
  reason?: string;
  /** A second outcome the server may give instead, because of a race it does not control. */
  orElse?: { code: string; message: RegExp; reason: string };
}

export interface Context {
  prefix: string;
  /** The id `create` returned. */
  createdId: string;
}

const DOCS_METHODS =
  "the docs' Go and Python servers implement only GetUser, CreateUser, ListUsers, CreateUsers and Chat";

function fields(expected: Record<string, unknown>) {
  return (value: unknown): string | undefined => {
    const v = (value ?? {}) as Record<string, unknown>;
    const wrong = Object.entries(expected).filter(([k, want]) => JSON.stringify(v[k]) !== JSON.stringify(want));
    return wrong.length === 0 ? undefined : `expected ${JSON.stringify(expected)}, got ${JSON.stringify(value)}`;
  };
}

const ok = (value?: Expected["value"]): Expected => ({ code: "OK", value });

/**
 * Every check's expected outcome on every server, in one place. polyrpc is the reference; where the
 * docs' servers differ by design, the entry says why.
 */
export function expected(server: ServerName, check: CheckName, { prefix, createdId }: Context): Expected {
  const docs = server !== "polyrpc";
  switch (check) {
    case "create":
      return ok((v, c) => fields({ username: `${c.prefix}-a`, email: `${c.prefix}-a@example.com` })(v));
    case "get":
      return ok((v, c) => fields({ id: c.createdId, username: `${c.prefix}-a` })(v));
    case "update":
      return docs ? { code: "UNIMPLEMENTED", reason: DOCS_METHODS } : ok(fields({ email: `${prefix}-a2@example.com` }));
    case "list":
      return ok((v) => {
        const { count, containsCreated } = (v ?? {}) as { count?: number; containsCreated?: boolean };
        return containsCreated === true && typeof count === "number" && count >= 1
          ? undefined
          : `expected the created user among the listed ones, got ${JSON.stringify(v)}`;
      });
    case "create_many":
      return ok(fields({ count: 3 }));
    case "chat":
      return ok(
        fields({ texts: ["Echo: m0", "Echo: m1", "Echo: m2"], userIds: [`u-${prefix}`, `u-${prefix}`, `u-${prefix}`] }),
      );
    case "metadata":
      return ok(fields({ initial: `ascii-${prefix}`, trailingBinHex: trailingBinFor(prefix).toString("hex") }));
    case "delete":
      return docs ? { code: "UNIMPLEMENTED", reason: DOCS_METHODS } : ok(fields({ success: true }));
    case "get_deleted":
      return docs
        ? { ...ok(fields({ id: createdId })), reason: "DeleteUser is unimplemented there, so the user is still stored" }
        : { code: "NOT_FOUND", message: `user "${createdId}" not found` };
    case "get_empty_id":
      if (server === "go") {
        return { code: "NOT_FOUND", message: "User not found", reason: "the docs' Go GetUser has no empty-id check" };
      }
      return server === "python"
        ? { code: "INVALID_ARGUMENT", message: "User ID is required", reason: "the docs' Python wording" }
        : { code: "INVALID_ARGUMENT", message: "id: value is required" };
    case "get_unknown":
      if (server === "go") return { code: "NOT_FOUND", message: "User not found", reason: "the docs' Go wording" };
      return server === "python"
        ? { code: "NOT_FOUND", message: `User ${UNKNOWN_ID} not found`, reason: "the docs' Python wording" }
        : { code: "NOT_FOUND", message: `user "${UNKNOWN_ID}" not found` };
    case "deadline":
      return server === "go"
        ? {
            code: "DEADLINE_EXCEEDED",
            orElse: {
              code: "CANCELLED",
              // The same reset as each client spells it. C-core: "Received RST_STREAM with error code 8";
              // grpc-js: "Call cancelled"; connect-node: "http/2 stream closed with error code CANCEL (0x8)".
              message: /RST_STREAM|^Call cancelled$|error code CANCEL \(0x8\)/,
              reason:
                "grpc-go's server runs its own deadline timer and resets the stream with RST_STREAM CANCEL, " +
                "without trailers, when it fires; a client whose own timer fires a moment later (a busy machine) " +
                "reports that reset as CANCELLED (seen from the Python, grpc-js and connect-node clients)",
            },
          }
        : { code: "DEADLINE_EXCEEDED" };
    case "cancel":
      return { code: "CANCELLED", value: fields({ echoed: "Echo: c0" }) };
  }
}

/** What is wrong with an observation, or undefined when it is what the server should give. */
export function judge(server: ServerName, observation: Observation, context: Context): string | undefined {
  const want = expected(server, observation.check, context);
  const { orElse } = want;
  if (orElse && observation.code === orElse.code && orElse.message.test(observation.message)) return undefined;
  if (observation.code !== want.code) {
    return `${observation.check}: expected ${want.code}, got ${observation.code} ${JSON.stringify(observation.message)}`;
  }
  if (want.message !== undefined && observation.message !== want.message) {
    return `${observation.check}: expected message ${JSON.stringify(want.message)}, got ${JSON.stringify(observation.message)}`;
  }
  const wrong = want.value?.(observation.value, context);
  return wrong ? `${observation.check}: ${wrong}` : undefined;
}
