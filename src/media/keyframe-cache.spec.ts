import { RtpHeader, RtpPacket } from 'werift';
import { KeyframeCache } from './keyframe-cache';

let seq = 0;
function packet(bytes: number): RtpPacket {
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq++ & 0xffff, payloadType: 96 }), Buffer.alloc(bytes, seq & 0xff));
}

describe('KeyframeCache', () => {
  it('is empty until the first keyframe, and ignores packets before it', () => {
    const cache = new KeyframeCache();
    cache.push(packet(10), false);
    cache.push(packet(10), false);
    expect(cache.size).toBe(0);
    expect(cache.snapshot()).toEqual([]);
  });

  it('holds the latest keyframe and every packet after it, oldest first', () => {
    const cache = new KeyframeCache();
    const before = packet(10);
    const k = packet(100);
    const k2 = packet(100);
    const d1 = packet(10);
    const d2 = packet(10);
    cache.push(before, false);
    cache.push(k, true);
    cache.push(k2, false); // second packet of the same keyframe
    cache.push(d1, false);
    cache.push(d2, false);
    expect(cache.snapshot()).toEqual([k, k2, d1, d2]);
    expect(cache.size).toBe(4);
  });

  it('starts over at the next keyframe', () => {
    const cache = new KeyframeCache();
    cache.push(packet(10), true);
    cache.push(packet(10), false);
    const k = packet(10);
    const d = packet(10);
    cache.push(k, true);
    cache.push(d, false);
    expect(cache.snapshot()).toEqual([k, d]);
  });

  it('drops a group of pictures that grows past maxBytes and waits for the next keyframe', () => {
    const cache = new KeyframeCache(250);
    cache.push(packet(100), true);
    cache.push(packet(100), false);
    expect(cache.size).toBe(2);
    cache.push(packet(100), false); // 300 > 250
    expect(cache.size).toBe(0);
    // Deltas after the overflow are not cached: they cannot be decoded without the keyframe.
    cache.push(packet(10), false);
    expect(cache.size).toBe(0);
    const k = packet(50);
    cache.push(k, true);
    expect(cache.snapshot()).toEqual([k]);
  });

  it('counts bytes from the latest keyframe only', () => {
    const cache = new KeyframeCache(250);
    cache.push(packet(200), true);
    const k = packet(200);
    cache.push(k, true); // 200, not 400
    expect(cache.snapshot()).toEqual([k]);
    const d = packet(50);
    cache.push(d, false); // 250: not over the limit
    expect(cache.snapshot()).toEqual([k, d]);
  });

  it('does not cache a single keyframe larger than maxBytes', () => {
    const cache = new KeyframeCache(100);
    cache.push(packet(101), true);
    expect(cache.size).toBe(0);
    cache.push(packet(1), false);
    expect(cache.size).toBe(0);
  });

  it('clear() empties it until the next keyframe', () => {
    const cache = new KeyframeCache();
    cache.push(packet(10), true);
    cache.clear();
    expect(cache.size).toBe(0);
    cache.push(packet(10), false);
    expect(cache.size).toBe(0);
    cache.push(packet(10), true);
    expect(cache.size).toBe(1);
  });
});
