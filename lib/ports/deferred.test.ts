import { describe, expect, it } from 'vitest';
import { deferred } from './deferred.ts';

interface Greeter {
  readonly name: string;
  greet(who: string): Promise<string>;
  count(): Promise<number>;
}

class RealGreeter implements Greeter {
  readonly name = 'real';
  private calls = 0;
  async greet(who: string): Promise<string> {
    this.calls++;
    return `hello ${who}`;
  }
  async count(): Promise<number> {
    return this.calls;
  }
}

describe('deferred', () => {
  it('builds the adapter at the first call, once, and calls it with its arguments', async () => {
    let loads = 0;
    const greeter = deferred<Greeter>(
      async () => {
        loads++;
        return new RealGreeter();
      },
      { greet: true, count: true },
    );
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([greeter.greet('ada'), greeter.greet('bob')]);
    expect([a, b]).toEqual(['hello ada', 'hello bob']);
    // One adapter served both calls, its own state (`this`) intact.
    expect(await greeter.count()).toBe(2);
    expect(loads).toBe(1);
  });

  it('tries a failed load again at the next call', async () => {
    let loads = 0;
    const greeter = deferred<Greeter>(
      async () => {
        if (++loads === 1) throw new Error('module missing');
        return new RealGreeter();
      },
      { greet: true, count: true },
    );
    await expect(greeter.greet('ada')).rejects.toThrow('module missing');
    expect(await greeter.greet('ada')).toBe('hello ada');
    expect(loads).toBe(2);
  });
});
