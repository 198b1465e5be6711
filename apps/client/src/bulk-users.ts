import { randomBytes } from "node:crypto";

/** A user to create, as CreateUser and CreateUsers take it. */
export interface NewUserInit {
  username: string;
  email: string;
  password: string;
}

/** Input the CLI cannot send; reported like a gRPC INVALID_ARGUMENT, but found before any call. */
export class InputError extends Error {
  override readonly name = "InputError";
  readonly code = "INVALID_ARGUMENT";
}

/** A short random suffix that keeps generated usernames unique across runs. */
export function runSuffix(): string {
  return randomBytes(4).toString("hex");
}

/** `count` users named `<prefix>-1` ... `<prefix>-<count>` with example.com emails and random passwords. */
export function* generatedUsers(count: number, prefix: string): Generator<NewUserInit> {
  for (let i = 1; i <= count; i++) {
    const username = `${prefix}-${i}`;
    yield { username, email: `${username}@example.com`, password: randomBytes(12).toString("base64url") };
  }
}

/**
 * Users from JSON lines, one `{"username","email","password"}` object per line; blank lines are
 * skipped. Throws InputError naming the first bad line.
 */
export async function* usersFromJsonLines(lines: AsyncIterable<string>): AsyncGenerator<NewUserInit> {
  let number = 0;
  for await (const line of lines) {
    number++;
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new InputError(`line ${number} is not JSON`);
    }
    const { username, email, password } = (value ?? {}) as Record<string, unknown>;
    if (
      typeof value !== "object" ||
      Array.isArray(value) ||
      typeof username !== "string" ||
      typeof email !== "string" ||
      typeof password !== "string"
    ) {
      throw new InputError(`line ${number} must be an object with string fields "username", "email" and "password"`);
    }
    yield { username, email, password };
  }
}
