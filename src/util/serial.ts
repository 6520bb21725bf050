/**
 * Runs tasks one after another, in the order they were handed in; a failed task does not stop
 * the ones after it (its caller gets the error).
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => T | Promise<T>): Promise<T> {
    const run = this.tail.then(task);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
