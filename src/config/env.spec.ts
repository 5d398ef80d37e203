import { EnvError, appOptionsFromEnv, loadEnv } from './env';

describe('loadEnv', () => {
  it('gives the defaults for an empty environment', () => {
    const env = loadEnv({});
    expect(env.PORT).toBe(3000);
    expect(env.HOST).toBe('0.0.0.0');
    expect(env.ICE_SERVERS).toEqual([]);
    expect(appOptionsFromEnv(env).session).toMatchObject({ iceServers: [], maxSessionsPerClient: 4 });
  });

  it('parses lists and numbers', () => {
    const env = loadEnv({
      PORT: '8080',
      HOST: '127.0.0.1',
      ICE_SERVERS: 'stun:stun.example.org:3478, turn:turn.example.org:3478',
      ICE_USERNAME: 'u',
      ICE_CREDENTIAL: 'p',
      ICE_ANNOUNCED_ADDRESSES: '203.0.113.7',
      ICE_PORT_MIN: '40000',
      ICE_PORT_MAX: '40099',
    });
    const session = appOptionsFromEnv(env).session!;
    expect(env.PORT).toBe(8080);
    expect(session.portRange).toEqual([40000, 40099]);
    expect(session.announcedAddresses).toEqual(['203.0.113.7']);
    expect(session.iceServers).toEqual([
      { urls: 'stun:stun.example.org:3478' },
      { urls: 'turn:turn.example.org:3478', username: 'u', credential: 'p' },
    ]);
  });

  it('lists every bad variable in one error', () => {
    let error: EnvError | undefined;
    try {
      loadEnv({ PORT: 'abc', HOST: 'nowhere', ICE_ANNOUNCED_ADDRESSES: 'x.y', ICE_PORT_MIN: '50000' });
    } catch (err) {
      error = err as EnvError;
    }
    expect(error).toBeInstanceOf(EnvError);
    const text = error!.problems.join('\n');
    for (const name of ['PORT', 'HOST', 'ICE_ANNOUNCED_ADDRESSES', 'ICE_PORT_MIN and ICE_PORT_MAX']) {
      expect(text).toContain(name);
    }
  });

  it('refuses an inverted port range', () => {
    expect(() => loadEnv({ ICE_PORT_MIN: '5000', ICE_PORT_MAX: '4000' })).toThrow(/not be greater/);
  });
});
