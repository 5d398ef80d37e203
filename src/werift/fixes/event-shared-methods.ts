import { weriftModule } from '../werift-lib';
import { WeriftFix } from './fix';

/** werift's `Event` methods, each an own arrow function of every instance in werift 0.25. */
const METHODS = ['execute', 'complete', 'error', 'allUnsubscribe', 'subscribe', 'queuingSubscribe', 'once', 'watch', 'asPromise'] as const;
type Method = (typeof METHODS)[number];

interface Item {
  execute: (...args: unknown[]) => unknown;
  id: number;
  complete?: () => void;
  error?: (e: unknown) => void;
}
interface EventLike {
  event: { stack: Item[]; promiseStack: Item[]; eventId: number };
  ended: boolean;
  onended?: () => void;
  onerror: (e: unknown) => void;
  [k: string]: any;
}

/**
 * A subscriber of an event, as werift's `{ ...item, id }` holds it. A class, because V8 gave
 * each of those spread literals a hidden class of its own (a map and a descriptor array,
 * about 0.2 KB, for each of the ~50 subscribers of a peer connection: heap snapshots of
 * bench/fanout.mjs); instances of one class share one.
 */
class Subscriber implements Item {
  constructor(
    public execute: Item['execute'],
    public complete: Item['complete'],
    public error: Item['error'],
    public id: number,
  ) {}
}

/**
 * One subscriber added to `list` (`stack` or `promiseStack`) under the next id. As werift,
 * the unsubscribe filters `stack` in both cases (a queuing subscriber stays).
 *
 * The first subscriber of an empty list gets an array of one: a push there would give the
 * array room for 17 (V8's first growth), and most of a connection's ~70 events never have
 * more than one. (Nothing can be iterating an empty list, so replacing it is safe.)
 */
function addSubscriber(ev: EventLike, list: 'stack' | 'promiseStack', item: Omit<Item, 'id'>) {
  const id = ev.event.eventId;
  const subscriber = new Subscriber(item.execute, item.complete, item.error, id);
  if (ev.event[list].length === 0) ev.event[list] = [subscriber];
  else ev.event[list].push(subscriber);
  ev.event.eventId++;
  const unSubscribe = () => {
    ev.event.stack = ev.event.stack.filter((i) => i.id !== id && i);
  };
  const disposer = (d: Array<() => void>) => {
    d.push(unSubscribe);
  };
  return { unSubscribe, disposer };
}

/**
 * The same methods as werift 0.25's `Event` (common/src/event.ts), with the same behaviour,
 * made per instance only when first read (see below). One change: `execute` starts the
 * async loop over queuing subscribers only when there is one (werift started an async
 * function, a promise and a `catch` on every call, on every datagram's path).
 */
const makers: Record<Method, (ev: EventLike) => (...args: any[]) => any> = {
  execute: (ev) => (...args: unknown[]) => {
    if (ev.ended) return;
    for (const item of ev.event.stack) item.execute(...args);
    const queued = ev.event.promiseStack;
    if (queued.length === 0) return;
    (async () => {
      for (const item of queued) await item.execute(...args);
    })().catch((e) => ev.onerror(e));
  },
  complete: (ev) => () => {
    if (ev.ended) return;
    for (const item of ev.event.stack) item.complete?.();
    ev.allUnsubscribe();
    ev.ended = true;
    if (ev.onended) {
      ev.onended();
      ev.onended = undefined;
    }
  },
  error: (ev) => (e: unknown) => {
    if (ev.ended) return;
    for (const item of ev.event.stack) item.error?.(e);
    ev.allUnsubscribe();
  },
  allUnsubscribe: (ev) => () => {
    if (ev.ended) return;
    ev.event = { stack: [], promiseStack: [], eventId: 0 };
  },
  subscribe: (ev) => (execute: Item['execute'], complete?: Item['complete'], error?: Item['error']) =>
    addSubscriber(ev, 'stack', { execute, complete, error }),
  queuingSubscribe: (ev) => (execute: Item['execute'], complete?: Item['complete'], error?: Item['error']) => {
    if (ev.ended) throw new Error('event completed');
    return addSubscriber(ev, 'promiseStack', { execute, complete, error });
  },
  once: (ev) => (execute: Item['execute'], complete?: Item['complete'], error?: Item['error']) => {
    const off = ev.subscribe(
      (...args: unknown[]) => {
        off.unSubscribe();
        execute(...args);
      },
      complete,
      error,
    );
  },
  watch: (ev) => (cb: (...args: unknown[]) => unknown, timeLimit?: number) =>
    new Promise((resolve, reject) => {
      const timeout = timeLimit && setTimeout(() => reject('Event watch timeout'), timeLimit);
      const { unSubscribe } = ev.subscribe((...args: unknown[]) => {
        if (cb(...args)) {
          if (timeout) clearTimeout(timeout);
          unSubscribe();
          resolve(args);
        }
      });
    }),
  asPromise: (ev) => (timeLimit?: number) =>
    new Promise((resolve, reject) => {
      const timeout = timeLimit && setTimeout(() => reject('Event asPromise timeout'), timeLimit);
      ev.once(
        (...args: unknown[]) => {
          if (timeout) clearTimeout(timeout);
          resolve(args);
        },
        () => {
          if (timeout) clearTimeout(timeout);
          resolve([]);
        },
        (err: unknown) => {
          if (timeout) clearTimeout(timeout);
          reject(err);
        },
      );
    }),
};

/**
 * werift's `Event` (one per event of every object: about 70 per peer connection here)
 * defines its nine methods as arrow functions in its constructor, so every instance holds
 * nine closures, most of which are never called: about 64 KB of each session's 305 KB of
 * heap (bench/fanout.mjs --heap: 764 closures per viewer), and a full GC marks them all.
 *
 * The replacement class keeps the same fields and methods, but each method is made (and
 * bound to its instance, so `const { execute } = ev` and `returnTrigger` still work) the
 * first time it is read, by a getter on the prototype; assigning one replaces it, as before.
 * werift builds its events with `new common_1.Event()` through the module's live export,
 * so the class is replaced in `common/src/event.js`; events made before (at load) keep
 * werift's class and work as before.
 */
export const eventSharedMethods: WeriftFix = {
  name: 'event-shared-methods',
  apply() {
    const mod = weriftModule<{ Event?: new () => EventLike }>('common/src/event.js');
    const Original = mod.Event;
    if (typeof Original !== 'function') throw new Error('common/src/event.js exports no Event class');
    const probe = new Original();
    for (const m of METHODS) {
      if (typeof probe[m] !== 'function' || !Object.prototype.hasOwnProperty.call(probe, m)) {
        throw new Error(`werift's Event no longer has an own ${m}() per instance`);
      }
    }
    for (const k of ['pipe', 'returnTrigger', 'returnListener', 'length']) {
      if (!Object.getOwnPropertyDescriptor(Original.prototype, k)) throw new Error(`werift's Event.prototype has no ${k}`);
    }

    class Event {
      event = { stack: [] as Item[], promiseStack: [] as Item[], eventId: 0 };
      ended = false;
      onended?: () => void = undefined;
    }
    const proto = Event.prototype as unknown as Record<string, unknown>;
    // A no-op by default, as werift's; an instance's own assignment replaces it.
    proto.onerror = function onerror() {};
    for (const m of METHODS) {
      const own = (self: object, value: unknown) => {
        Object.defineProperty(self, m, { value, writable: true, configurable: true, enumerable: true });
        return value;
      };
      Object.defineProperty(proto, m, {
        configurable: true,
        enumerable: false,
        get(this: EventLike) {
          return own(this, makers[m](this));
        },
        set(this: EventLike, value: unknown) {
          own(this, value);
        },
      });
    }
    // pipe(), returnTrigger, returnListener and length, as werift defines them.
    for (const k of ['pipe', 'returnTrigger', 'returnListener', 'length']) {
      Object.defineProperty(proto, k, Object.getOwnPropertyDescriptor(Original.prototype, k)!);
    }
    Object.defineProperty(Event, 'name', { value: 'Event' });
    (mod as { Event: unknown }).Event = Event;
  },
};
