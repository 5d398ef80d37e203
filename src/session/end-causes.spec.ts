import { Logger } from '@nestjs/common';
import { LOOPBACK_ONLY } from '../../test/helpers/app';
import { ManualSource } from '../media/sources/testing/manual-source';
import { endedBySource, safeCallbacks } from './end-causes';
import { Session, SessionCallbacks } from './session';
import { SessionOptions } from './session.options';

const quiet = { error: jest.fn() } as unknown as Logger;

describe('end causes', () => {
  it('tells a feed the session ended itself from one the source ended', () => {
    expect(endedBySource('video-stopped')).toBe(false);
    expect(endedBySource('session-closed')).toBe(false);
    expect(endedBySource('source-ended')).toBe(true);
    expect(endedBySource('sink-failed')).toBe(true);
  });

  it('safeCallbacks logs a throwing callback and returns; others pass their value through', () => {
    const safe = safeCallbacks(
      {
        bad(): void {
          throw new Error('boom');
        },
        good: (n: number) => n + 1,
      },
      quiet,
    );
    expect(() => safe.bad()).not.toThrow();
    expect(quiet.error).toHaveBeenCalledWith(expect.stringContaining('boom'));
    expect(safe.good(1)).toBe(2);
  });

  it("a state listener that throws inside close() does not stop the teardown", () => {
    const closed = jest.fn();
    const callbacks: SessionCallbacks = {
      candidate: () => undefined,
      offer: () => undefined,
      message: () => undefined,
      state: () => {
        throw new Error('an embedding app bug');
      },
      closed,
    };
    const source = new ManualSource();
    const session = Session.create({ id: 'a'.repeat(16), ownerId: 'o', source, options: SessionOptions.from(LOOPBACK_ONLY), callbacks });
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    expect(() => session.close('client-closed')).not.toThrow();
    expect(session.closed).toBe(true);
    expect(session.state).toBe('closed');
    expect(closed).toHaveBeenCalledWith('client-closed');
    expect(source.events.listenerCount('state')).toBe(0);
  });
});
