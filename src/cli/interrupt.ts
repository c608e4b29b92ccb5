// Ctrl-C handling: the first SIGINT / SIGTERM aborts the running work cleanly; a second one exits at once.
let controller: AbortController | undefined;

export function interruptSignal(): AbortSignal {
  if (!controller) {
    controller = new AbortController();
    const onSignal = (sig: NodeJS.Signals): void => {
      if (controller!.signal.aborted) process.exit(130);
      process.stderr.write(`\n${sig}: stopping (press Ctrl-C again to quit at once)\n`);
      controller!.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  return controller.signal;
}
