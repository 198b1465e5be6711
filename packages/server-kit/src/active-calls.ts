import type { RpcStatus } from "./rpc-status.js";

/** A call a server is running, as the shutdown sequence sees it. */
export interface ActiveCall {
  readonly streaming: boolean;
  /** Ends the call now with the given status (streams only; unary calls run to completion). */
  end(status: RpcStatus): void;
}

/** The calls a server is running, so that shutdown can wait for them or end them. */
export class ActiveCalls {
  private readonly calls = new Set<ActiveCall>();
  private idleWaiters: Array<() => void> = [];

  /** Registers a call; the returned function unregisters it when the call is over. */
  track(call: ActiveCall): () => void {
    this.calls.add(call);
    return () => {
      this.calls.delete(call);
      if (this.calls.size === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const wake of waiters) wake();
      }
    };
  }

  get size(): number {
    return this.calls.size;
  }

  /** Resolves once no call is running. */
  whenIdle(): Promise<void> {
    if (this.calls.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Ends every streaming call still running with `status`. */
  endStreams(status: RpcStatus): number {
    let ended = 0;
    for (const call of [...this.calls]) {
      if (call.streaming) {
        call.end(status);
        ended++;
      }
    }
    return ended;
  }
}
