import { type CallOptions, type Metadata } from "@polyrpc/grpc-client";
import type { User } from "@polyrpc/proto";
import type { UserServiceClient } from "./connect-user-service.js";

/** Trailing-metadata key of the cursor a paged ListUsers stream resumes after. */
export const NEXT_PAGE_TOKEN_KEY = "next-page-token";

export interface PageRequest {
  /** Most users to return; 0 returns all of them (and never a next page token). */
  pageSize: number;
  /** The `nextPageToken` of the previous page; empty or omitted starts at the beginning. */
  pageToken?: string;
}

export interface UsersPage {
  users: User[];
  /** Pass as `pageToken` to get the next page; undefined when this was the last page. */
  nextPageToken: string | undefined;
}

/** Reads the `next-page-token` trailer of a ListUsers stream, if it carries one. */
export function nextPageTokenOf(trailer: Metadata): string | undefined {
  const value = trailer.get(NEXT_PAGE_TOKEN_KEY)[0];
  const token = typeof value === "string" ? value : value?.toString("utf8");
  return token ? token : undefined;
}

/**
 * Streams one page of ListUsers and returns it with the cursor of the next one, read from the
 * stream's `next-page-token` trailer.
 */
export async function listUsersPage(
  client: UserServiceClient,
  page: PageRequest,
  options: CallOptions = {},
): Promise<UsersPage> {
  let nextPageToken: string | undefined;
  const users: User[] = [];
  const stream = client.methods.listUsers(
    { pageSize: page.pageSize, pageToken: page.pageToken ?? "" },
    {
      ...options,
      onTrailer: (trailer) => {
        nextPageToken = nextPageTokenOf(trailer);
        options.onTrailer?.(trailer);
      },
    },
  );
  for await (const user of stream) users.push(user);
  // grpc-js emits the status (and so the trailer) before the stream's end reaches this loop.
  return { users, nextPageToken };
}

/**
 * Every page of ListUsers, `pageSize` users at a time, following `next-page-token` until the
 * service sends none. Each page is its own call, so `timeoutMs` is a deadline per page.
 */
export async function* listUsersPages(
  client: UserServiceClient,
  page: PageRequest,
  options: CallOptions = {},
): AsyncGenerator<UsersPage> {
  if (page.pageSize <= 0) throw new RangeError("pageSize must be positive to page through users");
  let pageToken = page.pageToken;
  do {
    const current = await listUsersPage(client, { pageSize: page.pageSize, pageToken }, options);
    yield current;
    pageToken = current.nextPageToken;
  } while (pageToken !== undefined);
}
