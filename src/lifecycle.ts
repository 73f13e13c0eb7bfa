// Process lifecycle: cleanups that must run however the process ends (stop the
// embedded server, close connections), and signal handling that a command can take over.
import { ExitCode } from './errors.js';
import { log } from './log.js';

type Cleanup = () => Promise<void>;
const cleanups: Cleanup[] = [];
let interruptHandler: ((signal: NodeJS.Signals) => void) | undefined;

/** Register a cleanup; cleanups run last-registered first. */
export function addCleanup(fn: Cleanup): void {
  cleanups.push(fn);
}

export async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (err) {
      log.warn(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** Let a command (backfill) decide what Ctrl-C and SIGTERM mean while it runs. */
export function setInterruptHandler(handler: ((signal: NodeJS.Signals) => void) | undefined): void {
  interruptHandler = handler;
}

export function installSignalHandlers(): void {
  let exiting = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interruptHandler) {
      interruptHandler(signal);
      return;
    }
    if (exiting) return;
    exiting = true;
    log.info(`\n${signal} received, shutting down`);
    void runCleanups().finally(() => process.exit(signal === 'SIGINT' ? ExitCode.sigint : ExitCode.sigterm));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
