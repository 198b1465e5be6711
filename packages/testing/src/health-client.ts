import { createGrpcClient, type GrpcClient } from "@polyrpc/grpc-client";
import { healthV1 } from "@polyrpc/proto";

export type ServingStatusName = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

const statusName = (status: healthV1.HealthCheckResponse_ServingStatus) =>
  healthV1.HealthCheckResponse_ServingStatus[status] as ServingStatusName;

/** A grpc.health.v1 client, as a load balancer or `grpc-health-probe` would use it. */
export class HealthClient {
  private readonly client: GrpcClient<typeof healthV1.Health>;

  constructor(address: string) {
    this.client = createGrpcClient(healthV1.Health, address);
  }

  /** The status of `service` ("" = the whole server); rejects with the call's ServiceError. */
  async check(service = ""): Promise<ServingStatusName> {
    return statusName((await this.client.methods.check({ service })).status);
  }

  /** Every status the server reports for `service`, until `stop` is called. */
  watch(service = ""): { statuses: ServingStatusName[]; next(): Promise<ServingStatusName>; stop(): void } {
    const controller = new AbortController();
    const statuses: ServingStatusName[] = [];
    const waiters: Array<(s: ServingStatusName) => void> = [];
    void (async () => {
      for await (const res of this.client.methods.watch({ service }, { signal: controller.signal })) {
        statuses.push(statusName(res.status));
        waiters.shift()?.(statusName(res.status));
      }
    })().catch(() => {});
    let read = 0;
    return {
      statuses,
      next: () => {
        const index = read++;
        if (index < statuses.length) return Promise.resolve(statuses[index]!);
        return new Promise((resolve) => waiters.push(resolve));
      },
      stop: () => controller.abort(),
    };
  }

  close(): void {
    this.client.close();
  }
}
