import type { ServiceProcess } from "./processes.js";

/**
 * The environment that opens a Node process's inspector on a free loopback port, so that a test
 * can reach into it (`connectInspector`). It is the one way to make another process collect its
 * garbage: `global.gc` only works inside it.
 */
export const INSPECTOR_ENV = { NODE_OPTIONS: "--inspect=127.0.0.1:0" };

/** A DevTools protocol session with a server process. */
export interface InspectorSession {
  /** A full, blocking garbage collection in the process (HeapProfiler.collectGarbage). */
  collectGarbage(): Promise<void>;
  /** The process's JavaScript heap in use, in MiB (Runtime.getHeapUsage). */
  heapUsedMib(): Promise<number>;
  close(): void;
}

/**
 * Connects to the inspector of a process started with INSPECTOR_ENV, at the address it printed
 * (`Debugger listening on ws://...`).
 */
export async function connectInspector(service: ServiceProcess): Promise<InspectorSession> {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(service.output())?.[1];
  if (!url) throw new Error(`the process has no inspector open (start it with INSPECTOR_ENV):\n${service.output()}`);
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error(`cannot reach the inspector at ${url}`)), { once: true });
  });
  let lastId = 0;
  const pending = new Map<number, { resolve: (result: unknown) => void; reject: (err: Error) => void }>();
  socket.addEventListener("message", (event) => {
    const reply = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
    const call = reply.id === undefined ? undefined : pending.get(reply.id);
    if (!call) return; // an event, not a reply
    pending.delete(reply.id!);
    if (reply.error) call.reject(new Error(reply.error.message));
    else call.resolve(reply.result);
  });
  const send = (method: string) =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++lastId;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method }));
    });
  return {
    async collectGarbage() {
      await send("HeapProfiler.collectGarbage");
    },
    async heapUsedMib() {
      const { usedSize } = (await send("Runtime.getHeapUsage")) as { usedSize: number };
      return usedSize / (1024 * 1024);
    },
    close: () => socket.close(),
  };
}
