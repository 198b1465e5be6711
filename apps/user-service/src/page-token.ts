import { InvalidArgumentError } from "@polyrpc/server-kit";

const PREFIX = "u1:";

/** The cursor a ListUsers stream resumes after: opaque to callers, a sequence number to us. */
export function encodePageToken(afterSeq: number): string {
  return Buffer.from(`${PREFIX}${afterSeq}`).toString("base64url");
}

/** Decodes a page token; an empty token starts at the beginning. */
export function decodePageToken(token: string): number {
  if (token === "") return 0;
  const text = Buffer.from(token, "base64url").toString("utf8");
  const seq = text.startsWith(PREFIX) ? text.slice(PREFIX.length) : "";
  if (!/^\d{1,15}$/.test(seq) || Buffer.from(text).toString("base64url") !== token) {
    throw new InvalidArgumentError("page_token is not a token this service issued", "page_token");
  }
  return Number(seq);
}
