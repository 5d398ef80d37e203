import { randomBytes } from 'node:crypto';
import { SrtpSession } from 'werift';
import type { SrtpProtector, SrtpSessionKeys } from '../../src/media/fanout/srtp';

/**
 * A sending protector and werift's SRTP sessions for both ends: `receiver` decrypts what the
 * protector sends (the peer's view), `sender` is werift's own sending session with the same
 * keys. `make` picks the protector (JS or native) for the sender's session keys.
 */
export function srtpPair(
  profile: number,
  saltLength: number,
  make: (keys: SrtpSessionKeys) => SrtpProtector,
): { protector: SrtpProtector; receiver: SrtpSession; sender: SrtpSession } {
  const key = randomBytes(16);
  const salt = randomBytes(saltLength);
  const other = { key: randomBytes(16), salt: randomBytes(saltLength) };
  const sender = new SrtpSession({
    keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: other.key, remoteMasterSalt: other.salt },
    profile,
  } as never);
  const receiver = new SrtpSession({
    keys: { localMasterKey: other.key, localMasterSalt: other.salt, remoteMasterKey: key, remoteMasterSalt: salt },
    profile,
  } as never);
  const c = sender.localContext as unknown as { srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer };
  const protector = make({ profile, key: c.srtpSessionKey, salt: c.srtpSessionSalt, authKey: c.srtpSessionAuthTag });
  return { protector, receiver, sender };
}
