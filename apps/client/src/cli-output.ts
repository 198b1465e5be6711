import { toJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import type { User } from "@polyrpc/proto";
import { errorInfo } from "./error-info.js";

/** Where the CLI writes; process.stdout and process.stderr, or buffers in tests. */
export interface OutputStreams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** One line describing a user, for people. */
export function formatUser(user: User): string {
  const created = new Date(Number(user.createdAt) * 1000).toISOString();
  return `${user.id}  ${user.username}  <${user.email}>  created ${created}  roles ${user.roles.join(",") || "-"}`;
}

/**
 * Writes results as text for people, or with `--json` as one JSON object per line: messages in
 * the protobuf JSON mapping (int64 as strings, lowerCamel names), errors as `{"error":{...}}`.
 */
export class CliOutput {
  constructor(
    readonly json: boolean,
    private readonly streams: OutputStreams,
  ) {}

  /** A protobuf message: `toJson` with `--json`, otherwise `text`. */
  message<D extends DescMessage>(schema: D, message: MessageShape<D>, text: string): void {
    this.record(toJson(schema, message), text);
  }

  /** Any JSON object with `--json`, otherwise `text` (nothing when text is undefined). */
  record(value: JsonValue, text: string | undefined): void {
    if (this.json) this.streams.stdout.write(`${JSON.stringify(value)}\n`);
    else if (text !== undefined) this.streams.stdout.write(`${text}\n`);
  }

  /** A line for people only; nothing with `--json`. */
  note(text: string): void {
    if (!this.json) this.streams.stdout.write(`${text}\n`);
  }

  /** A line on stderr about what the CLI is doing (reconnecting, say), in both modes. */
  warn(text: string): void {
    this.streams.stderr.write(`${text}\n`);
  }

  /** An error on stderr: `error: CODE: message`, or `{"error":{"code","message"}}` with `--json`. */
  error(err: unknown): void {
    const { code, message } = errorInfo(err);
    this.streams.stderr.write(
      this.json ? `${JSON.stringify({ error: { code, message } })}\n` : `error: ${code}: ${message}\n`,
    );
  }
}
