import { getHostAddresses } from 'werift';
import { StreamingError } from '../common/streaming-error';
import { ErrorCode } from '../protocol';
import { SessionOptions } from './session.options';

/** The host addresses werift will gather on with these options (what weriftIceConfig asks for). */
export function hostAddressesOf(o: SessionOptions): string[] {
  if (o.announcedAddresses?.length) return o.announcedAddresses;
  return getHostAddresses(true, true);
}

/**
 * Why a session gathered no candidate. With a port range, the range is full (or taken by
 * other programs); without one, werift had no address to gather on at all: no usable
 * interface (it skips loopback, link-local, veth, tun...) and no announced address. That
 * is the server's configuration, not a matter of capacity, and it says so.
 */
export function noCandidateError(options: SessionOptions): StreamingError {
  if (hostAddressesOf(options).length === 0) {
    return new StreamingError(
      ErrorCode.NO_ICE_CANDIDATE,
      'the server gathered no ICE candidate: it has no usable network interface and no announced address',
    );
  }
  if (options.portRange) return new StreamingError(ErrorCode.CAPACITY_EXCEEDED, 'no free UDP port for a new session');
  return new StreamingError(ErrorCode.NO_ICE_CANDIDATE, 'the server gathered no ICE candidate: no UDP socket could be bound');
}

/**
 * Whether gathering produced a candidate. werift raises no error when no UDP port is free:
 * gathering ends with none. A slow gatherer (no candidate, no end, within the check time)
 * is given the benefit of the doubt.
 */
export async function hasLocalCandidate(first: Promise<boolean>, checkMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), checkMs)));
  try {
    return await Promise.race([first, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
