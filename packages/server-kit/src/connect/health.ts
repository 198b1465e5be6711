import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { healthV1 } from "@polyrpc/proto";

const { HealthCheckResponse_ServingStatus: ServingStatus } = healthV1;
type ServingStatus = healthV1.HealthCheckResponse_ServingStatus;

/**
 * grpc.health.v1 for connect-node (no library provides it): Check, Watch and List over a status per
 * service name, with "" standing for the whole server. Watch sends the current status, then every
 * change, as the gRPC health protocol asks.
 */
export class ConnectHealth {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<(status: ServingStatus) => void>>();
  private serving = true;

  constructor(private readonly serviceNames: readonly string[]) {
    for (const name of ["", ...serviceNames]) this.statuses.set(name, ServingStatus.SERVING);
  }

  get isServing(): boolean {
    return this.serving;
  }

  /** Every registered service (and the server) SERVING or NOT_SERVING. */
  setServing(serving: boolean): void {
    this.serving = serving;
    for (const name of ["", ...this.serviceNames]) {
      this.set(name, serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    }
  }

  private set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const notify of this.watchers.get(service) ?? []) notify(status);
  }

  /** The implementation to register with `router.service(healthV1.Health, ...)`. */
  implementation(): ServiceImpl<typeof healthV1.Health> {
    return {
      check: (request) => {
        const status = this.statuses.get(request.service);
        if (status === undefined) throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
        return { status };
      },
      list: () => ({
        statuses: Object.fromEntries(
          [...this.statuses].map(([name, status]) => [name, create(healthV1.HealthCheckResponseSchema, { status })]),
        ),
      }),
      watch: (request, ctx) => this.watch(request.service, ctx.signal),
    };
  }

  private async *watch(service: string, signal: AbortSignal): AsyncGenerator<{ status: ServingStatus }> {
    const pending: ServingStatus[] = [this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN];
    let wake: () => void = () => {};
    const listener = (status: ServingStatus) => {
      pending.push(status);
      wake();
    };
    const onAbort = () => wake();
    let listeners = this.watchers.get(service);
    if (!listeners) this.watchers.set(service, (listeners = new Set()));
    listeners.add(listener);
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        const next = pending.shift();
        if (next !== undefined) yield { status: next };
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      listeners.delete(listener);
      signal.removeEventListener("abort", onAbort);
    }
  }
}
