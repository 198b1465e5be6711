import { readFile } from "node:fs/promises";
import { createLocalJWKSet, errors, type FlattenedJWSInput, type JWSHeaderParameters } from "jose";
import { UnavailableError } from "../errors.js";

/** Where a JSON Web Key Set comes from: a file (a mounted Secret, say) or an HTTPS URL. */
export type JwksSource = { file: string } | { url: string | URL };

/** Largest JWKS document read, in bytes. */
const MAX_JWKS_BYTES = 1024 * 1024;

export interface KeySetOptions {
  /**
   * The least time between two loads, in milliseconds (default 30 s): a token with an unknown `kid`
   * reloads the set only when the last load is older than this, so a flood of made-up kids costs
   * one fetch per interval.
   */
  reloadCooldownMs?: number;
  /** Keys older than this are reloaded on the next call, in milliseconds (default 10 min). */
  maxAgeMs?: number;
  /** How long fetching a URL may take, in milliseconds (default 5 s). */
  fetchTimeoutMs?: number;
  /** Told why a load failed (the keys already loaded stay in use). */
  onLoadError?: (err: unknown) => void;
}

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

/**
 * A JWKS from a file or a URL, loaded on first use and cached. Keys are picked by the token's
 * `kid` and `alg`; a `kid` the cached set lacks (a rotated signing key) triggers a reload, at most
 * once per `reloadCooldownMs`. A failed reload keeps the keys already loaded.
 */
export class KeySet {
  private keys: LocalKeySet | undefined;
  private loadedAt = -Infinity;
  private attemptedAt = -Infinity;
  private loading: Promise<void> | undefined;
  private readonly cooldownMs: number;
  private readonly maxAgeMs: number;
  private readonly fetchTimeoutMs: number;

  constructor(
    private readonly source: JwksSource,
    private readonly options: KeySetOptions = {},
  ) {
    this.cooldownMs = options.reloadCooldownMs ?? 30_000;
    this.maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? 5000;
    if ("url" in source && !isAllowedJwksUrl(String(source.url))) {
      throw new Error(`the JWKS URL must be https (plain http only on localhost): ${String(source.url)}`);
    }
  }

  /** The key verifying a token with this header; jose's `jwtVerify` calls it. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    if (Date.now() - this.loadedAt >= this.maxAgeMs) {
      // Stale keys keep serving while they are refreshed; only the first load is waited for.
      const reloading = this.reload();
      if (!this.keys) await reloading;
    }
    const keys = this.keys;
    if (!keys) throw new UnavailableError("the keys that verify tokens cannot be loaded now. Try again later");
    try {
      return await keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      await this.reload();
      // No reload happened (cooldown) or it failed: the kid is unknown.
      if (this.keys === keys) throw err;
      return await this.keys!(header, token);
    }
  };

  /** Loads the set again unless a load started less than the cooldown ago; concurrent callers share one load. */
  private reload(): Promise<void> {
    if (this.loading) return this.loading;
    if (Date.now() - this.attemptedAt < this.cooldownMs) return Promise.resolve();
    this.attemptedAt = Date.now();
    this.loading = this.load()
      .then((jwks) => {
        this.keys = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
        this.loadedAt = Date.now();
      })
      .catch((err: unknown) => this.options.onLoadError?.(err))
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(): Promise<unknown> {
    let text: string;
    if ("file" in this.source) {
      text = await readFile(this.source.file, "utf8");
    } else {
      const response = await fetch(this.source.url, {
        headers: { accept: "application/jwk-set+json, application/json" },
        redirect: "error",
        signal: AbortSignal.timeout(this.fetchTimeoutMs),
      });
      if (response.status !== 200) throw new Error(`the JWKS URL answered HTTP ${response.status}`);
      text = await response.text();
    }
    if (text.length > MAX_JWKS_BYTES) throw new Error(`the JWKS is larger than ${MAX_JWKS_BYTES} bytes`);
    return JSON.parse(text);
  }
}

/** True for an https URL, or an http one on localhost: keys fetched in the clear could be swapped. */
export function isAllowedJwksUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  const loopback = url.hostname === "localhost" || url.hostname === "[::1]" || /^127(\.\d{1,3}){3}$/.test(url.hostname);
  return url.protocol === "https:" || (url.protocol === "http:" && loopback);
}
