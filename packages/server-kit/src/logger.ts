import { pino, type Logger as PinoLogger, type DestinationStream, type LevelWithSilent } from "pino";

export type Logger = PinoLogger;

export interface LoggerOptions {
  /** The service name, written on every line as `service`. */
  name: string;
  level?: LevelWithSilent;
  /** Where lines go; stdout by default. Tests pass a stream to read what was logged. */
  destination?: DestinationStream;
}

/** A pino logger writing one JSON object per line, as log collectors in Kubernetes expect. */
export function createLogger({ name, level = "info", destination }: LoggerOptions): Logger {
  return pino(
    {
      base: { service: name },
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
