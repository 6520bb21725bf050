import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that mostly wait on the real clock (5 s registry polls, a one-minute deploy window)
 * start first, so their waiting overlaps the CPU-bound files instead of trailing them; the rest
 * keep vitest's order (slowest first when it has timings, larger files first otherwise).
 */
const WAITING = [/\/watcher\.test\.ts$/, /\/schedule\.test\.ts$/];

export default class WaitingFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const first = sorted.filter((f) => WAITING.some((r) => r.test(f.moduleId)));
    return [...first, ...sorted.filter((f) => !first.includes(f))];
  }
}
