import { clearLine, clearScreenDown, createInterface, cursorTo, moveCursor } from "node:readline";
import type { ReadStream, WriteStream } from "node:tty";
import type { OutputStreams } from "./cli-output.js";
import { readLines } from "./read-lines.js";

/** What `chat join` reads from and prints through while the user can type. */
export interface ChatInput {
  /** The lines the user enters, until the input ends (Ctrl-D, Ctrl-C, end of a pipe) or `close()`. */
  readonly lines: AsyncIterable<string>;
  /** Where to print while the input is open; in a terminal, lines go above the prompt. */
  readonly output: OutputStreams;
  /** Stops reading (safe at any time, more than once), so the process can exit. */
  close(): void;
}

/** The prompt a person types at. */
export const CHAT_PROMPT = "> ";

function isTerminal(stream: unknown): stream is ReadStream | WriteStream {
  return (stream as { isTTY?: unknown } | undefined)?.isTTY === true;
}

/**
 * Lines to send: from a terminal (stdin and stdout both TTYs) with a line editor and a prompt that
 * incoming messages print above; otherwise (a pipe, a file) plain lines as they arrive.
 */
export function openChatInput(stdin: NodeJS.ReadableStream, streams: OutputStreams): ChatInput {
  if (isTerminal(stdin) && isTerminal(streams.stdout)) {
    return terminalInput(stdin as ReadStream, streams.stdout as WriteStream, streams.stderr);
  }
  const stop = new AbortController();
  return { lines: readLines(stdin, { signal: stop.signal }), output: streams, close: () => stop.abort() };
}

function terminalInput(input: ReadStream, terminal: WriteStream, stderr: OutputStreams["stderr"]): ChatInput {
  // Ctrl-D on an empty line and Ctrl-C both close the interface (readline's default without a
  // SIGINT listener): the input ends, the stream half-closes and the room says goodbye.
  const editor = createInterface({ input, output: terminal, terminal: true, prompt: CHAT_PROMPT, historySize: 200 });
  let open = true;
  editor.once("close", () => {
    open = false;
    // Leave no dangling prompt in front of what the stream still prints.
    cursorTo(terminal, 0);
    clearLine(terminal, 0);
  });

  /** Prints above the prompt, then redraws the prompt with what the user has typed so far. */
  const above = (stream: OutputStreams["stdout"]): OutputStreams["stdout"] => ({
    write(text: string) {
      if (!open) return stream.write(text);
      cursorTo(terminal, 0);
      clearLine(terminal, 0);
      const result = stream.write(text);
      editor.prompt(true);
      return result;
    },
  });

  async function* lines(): AsyncGenerator<string> {
    if (!open) return;
    editor.prompt();
    for await (const line of editor) {
      // Wipe the line as typed: it comes back from the room, numbered, once it is stored.
      const rows = Math.max(1, Math.ceil((CHAT_PROMPT.length + line.length) / Math.max(1, terminal.columns || 80)));
      moveCursor(terminal, 0, -rows);
      cursorTo(terminal, 0);
      clearScreenDown(terminal);
      editor.prompt();
      yield line;
    }
  }

  return {
    lines: lines(),
    output: { stdout: above(terminal), stderr: above(stderr) },
    close: () => editor.close(),
  };
}
