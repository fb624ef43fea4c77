/**
 * A counting semaphore: at most `limit` tasks at once, the rest wait in order. The build's
 * `maxParallelism` (BuildKit's max-parallelism) bounds running steps with it.
 */
export class Slots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next(); // the slot passes straight on
      else this.active--;
    }
  }
}
