import {
  credentials,
  makeGenericClientConstructor,
  type Client,
  type ClientReadableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

export type ServingStatusName = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

type HealthStub = Client & {
  check(
    request: { service: string },
    callback: (err: ServiceError | null, res?: { status: ServingStatusName }) => void,
  ): void;
  watch(request: { service: string }): ClientReadableStream<{ status: ServingStatusName }>;
};

/** A grpc.health.v1 client, as a load balancer or `grpc-health-probe` would use it. */
export class HealthClient {
  private readonly stub: HealthStub;

  constructor(address: string) {
    const Ctor = makeGenericClientConstructor(healthService as never, "Health");
    this.stub = new Ctor(address, credentials.createInsecure()) as unknown as HealthStub;
  }

  /** The status of `service` ("" = the whole server); rejects with the call's ServiceError. */
  check(service = ""): Promise<ServingStatusName> {
    return new Promise((resolve, reject) =>
      this.stub.check({ service }, (err, res) => (err ? reject(err) : resolve(res!.status))),
    );
  }

  /** Every status the server reports for `service`, until `stop` is called. */
  watch(service = ""): { statuses: ServingStatusName[]; next(): Promise<ServingStatusName>; stop(): void } {
    const call = this.stub.watch({ service });
    const statuses: ServingStatusName[] = [];
    const waiters: Array<(s: ServingStatusName) => void> = [];
    call.on("data", (res: { status: ServingStatusName }) => {
      statuses.push(res.status);
      waiters.shift()?.(res.status);
    });
    call.on("error", () => {});
    let read = 0;
    return {
      statuses,
      next: () => {
        const index = read++;
        if (index < statuses.length) return Promise.resolve(statuses[index]!);
        return new Promise((resolve) => waiters.push(resolve));
      },
      stop: () => call.cancel(),
    };
  }

  close(): void {
    this.stub.close();
  }
}
