import { createLogger, type Logger } from '../../dist/observability/logger.js';

/** A logger whose JSON lines are kept in memory, for assertions on what was logged. */
export function memoryLogger(level = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const raw: string[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level,
    destination: {
      write(chunk: string) {
        raw.push(chunk);
        lines.push(JSON.parse(chunk) as Record<string, unknown>);
        return true;
      },
    } as unknown as NodeJS.WritableStream,
  });
  return { logger, lines, text: () => raw.join('') };
}
