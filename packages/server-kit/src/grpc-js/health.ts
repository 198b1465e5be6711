import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import type { Server } from "@grpc/grpc-js";

/** The fully-qualified name of the health service. */
export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";

/**
 * grpc.health.v1 (Check and Watch) for a server: the overall status ("") and one status per
 * service name, all SERVING until `setServing(false)`.
 */
export class Health {
  private readonly impl: HealthImplementation;
  private serving = true;

  constructor(private readonly serviceNames: readonly string[]) {
    this.impl = new HealthImplementation(this.statusMap("SERVING"));
  }

  private statusMap(status: ServingStatus): Record<string, ServingStatus> {
    return Object.fromEntries(["", ...this.serviceNames].map((name) => [name, status]));
  }

  get isServing(): boolean {
    return this.serving;
  }

  setServing(serving: boolean): void {
    this.serving = serving;
    for (const [name, status] of Object.entries(this.statusMap(serving ? "SERVING" : "NOT_SERVING"))) {
      this.impl.setStatus(name, status);
    }
  }

  addToServer(server: Server): void {
    this.impl.addToServer(server);
  }
}
