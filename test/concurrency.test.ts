// The page's Mutex and KeepLast (seed 001), with answers forced to arrive out of order: each
// load is a deferred promise the test resolves by hand, last call first.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeepLast, Mutex, SUPERSEDED } from '../web/concurrency.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every already-settled promise run its callbacks. */
const settle = () => new Promise((r) => setImmediate(r));

describe('Mutex', () => {
  test('runs actions one after another in call order, even when later answers come first', async () => {
    const mutex = new Mutex();
    const answers = [deferred<string>(), deferred<string>(), deferred<string>()];
    const log: string[] = [];
    const results = answers.map((answer, i) =>
      mutex.exec(async () => {
        log.push(`start ${i}`);
        const value = await answer.promise;
        log.push(`end ${i}`);
        return value;
      }),
    );
    await settle();
    assert.deepEqual(log, ['start 0'], 'only the first action runs while it is pending');
    answers[2]?.resolve('c');
    answers[1]?.resolve('b');
    await settle();
    assert.deepEqual(log, ['start 0'], 'answers of waiting actions do not let them overtake');
    answers[0]?.resolve('a');
    assert.deepEqual(await Promise.all(results), ['a', 'b', 'c']);
    assert.deepEqual(log, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  test('a failed action rejects its own caller and the next action still runs', async () => {
    const mutex = new Mutex();
    const first = deferred<number>();
    const failing = mutex.exec(() => first.promise);
    const thrown = mutex.exec(() => {
      throw new Error('synchronous failure');
    });
    const next = mutex.exec(async () => 'ran');
    first.reject(new Error('post refused'));
    await assert.rejects(failing, /post refused/);
    await assert.rejects(thrown, /synchronous failure/);
    assert.equal(await next, 'ran');
  });
});

describe('KeepLast', () => {
  test('only the latest load is applied when an older one answers last', async () => {
    const keepLast = new KeepLast();
    const older = deferred<string>();
    const newer = deferred<string>();
    const first = keepLast.add(() => older.promise);
    const second = keepLast.add(() => newer.promise);
    newer.resolve('newer');
    assert.equal(await second, 'newer');
    older.resolve('older');
    assert.equal(await first, SUPERSEDED);
  });

  test('an older load that fails is superseded, not thrown; the latest failure is', async () => {
    const keepLast = new KeepLast();
    const older = deferred<string>();
    const newer = deferred<string>();
    const first = keepLast.add(() => older.promise);
    const second = keepLast.add(() => newer.promise);
    older.reject(new Error('stale failure'));
    newer.reject(new Error('current failure'));
    assert.equal(await first, SUPERSEDED);
    await assert.rejects(second, /current failure/);
  });

  test('a load added after the latest answered is applied on its own', async () => {
    const keepLast = new KeepLast();
    assert.equal(await keepLast.add(async () => 1), 1);
    assert.equal(await keepLast.add(async () => 2), 2);
  });

  test('switching channel A then B, with A answering last, shows B', async () => {
    // What the page does: load the history, then set the shown channel and its messages at once.
    const keepLast = new KeepLast();
    const shown = { channel: 0, messages: [] as string[] };
    const answers = new Map([
      [1, deferred<string[]>()],
      [2, deferred<string[]>()],
    ]);
    async function select(channel: number) {
      const messages = await keepLast.add(() => answers.get(channel)?.promise ?? Promise.resolve([]));
      if (messages === SUPERSEDED) return;
      shown.channel = channel;
      shown.messages = messages;
    }
    const a = select(1);
    const b = select(2);
    answers.get(2)?.resolve(['b1', 'b2']);
    await b;
    answers.get(1)?.resolve(['a1']);
    await a;
    assert.deepEqual(shown, { channel: 2, messages: ['b1', 'b2'] });
  });
});
