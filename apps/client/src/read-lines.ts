import { createInterface } from "node:readline";

/** The lines of a text stream (without line endings), read as they arrive. */
export async function* readLines(input: NodeJS.ReadableStream): AsyncGenerator<string> {
  const lines = createInterface({ input, crlfDelay: Infinity, terminal: false });
  try {
    yield* lines;
  } finally {
    lines.close();
  }
}
