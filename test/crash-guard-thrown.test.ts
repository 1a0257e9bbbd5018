import fc from 'fast-check';
import { expect, it } from 'vitest';
import { describeValue, LOG_LIMITS, loggableError } from '../server/thrown.ts';

// What thrown.ts hands the logger is plain data it built, whatever logic made: JSON can always
// carry it, it is bounded, and no function of logic's runs while it is made.

let ran = 0;
const boom = () => {
  ran++;
  throw new Error('logic code ran');
};
const hostile = fc.constantFrom<() => unknown>(
  () => new Proxy({}, { get: boom, has: boom, ownKeys: boom, getPrototypeOf: boom, getOwnPropertyDescriptor: boom }),
  () => ({ get message() { return boom(); } }),
  () => Object.freeze({ message: 'frozen', by: 'p-ann' }),
  () => ({ toJSON: boom, toString: boom, [Symbol.toPrimitive]: boom, [Symbol.for('nodejs.util.inspect.custom')]: boom }),
  () => boom,
  () => 10n ** 30n,
  () => Symbol('s'),
  () => Object.create(null),
  () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; },
  () => { let o: object = { message: 'leaf' }; for (let i = 0; i < 20_000; i++) o = { message: 'm', inner: o }; return o; },
  () => { const a: Record<string, unknown> = {}; a.self = a; return a; },
  () => 'x'.repeat(1_000_000),
  () => new Array(1_000_000).fill(1),
  () => Buffer.alloc(1_000_000),
  () => { const e = new Error('a'); Object.defineProperty(e, 'stack', { get: boom }); return e; },
  () => Object.assign(new Error('with cause', { cause: new Error('the cause') }), { cause2: boom }),
  () => JSON.parse('{"__proto__": {"polluted": true}}') as unknown,
);
// Makers, not values: fast-check itself reads what it generates (a revoked proxy would throw there).
const maker = fc.oneof(fc.anything().map((v) => () => v), hostile);

it('an error with any fields, and any value, become JSON-able, bounded text and data, and no getter, trap, toString or toJSON of logic\'s runs', () => {
  fc.assert(
    fc.property(maker, fc.dictionary(fc.string(), maker, { maxKeys: 5 }), (make, makers) => {
      ran = 0;
      const thrown = make();
      const err = new Error('m'.repeat(100_000));
      for (const [key, made] of Object.entries(makers)) Object.defineProperty(err, key, { value: made(), enumerable: true });
      Object.assign(err, { detail: thrown });
      const logged = loggableError(err);
      const json = JSON.stringify(logged);
      expect(json.length).toBeLessThan(256 * 1024);
      expect(logged.message.length).toBeLessThan(LOG_LIMITS.message + 100);
      expect(logged.message).toMatch(/cut: 100000 characters in all/);
      expect(logged.stack.length).toBeLessThan(LOG_LIMITS.stack + 100);
      const text = describeValue(thrown);
      expect(typeof text).toBe('string');
      expect(text.length).toBeLessThan(LOG_LIMITS.stack + 100);
      expect(ran).toBe(0);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }),
    { numRuns: 300 },
  );
});

it('keeps what operators read: type, message, stack, code, details and the cause', () => {
  class PaymentError extends Error {
    code = 'CARD_DECLINED';
    details = { orderId: 'o-17', attempts: 3 };
  }
  const err = loggableError(new PaymentError('card declined', { cause: new Error('bank offline') }));
  expect(err).toMatchObject({ type: 'PaymentError', message: 'card declined', code: 'CARD_DECLINED', details: { orderId: 'o-17', attempts: 3 } });
  expect(err.stack).toMatch(/^Error: card declined\n\s+at /);
  expect(err.cause).toMatch(/^Error: bank offline\n\s+at /);
  expect(loggableError(Object.assign(new Error('g'), { detail: { get message() { return boom(); } } }))).toMatchObject({ detail: { message: '[getter]' } });
});
