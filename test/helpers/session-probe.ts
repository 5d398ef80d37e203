import type { SessionHandle } from '../../src/session/session-setup';
import { Session } from '../../src/session/session';
import { probeSession, SessionProbe, VideoSenderProbe } from '../../src/workers/session-probe';
import type { RemoteSession } from '../../src/workers/remote-session';

/**
 * Does `probe` to a session's werift objects where the session runs: on this thread, or in
 * its media worker (MEDIA_WORKERS > 0), so a test that induces loss or silences ICE runs in
 * both modes.
 */
export function probe(session: SessionHandle, p: SessionProbe): Promise<VideoSenderProbe | undefined> {
  if (session instanceof Session) return Promise.resolve(probeSession(session, p));
  return (session as RemoteSession).probe(p);
}
