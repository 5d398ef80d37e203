import { createHash, createHmac, randomBytes } from 'node:crypto';
import { sha1Outer, sha1State } from './sha1-block';

describe('sha1-block', () => {
  it('the outer hash of [block, 20 bytes] equals node:crypto SHA-1, for many blocks and digests', () => {
    for (let i = 0; i < 200; i++) {
      const block = randomBytes(64);
      const digest = randomBytes(20);
      const out = Buffer.alloc(24, 0xaa);
      sha1Outer(sha1State(block), digest.toString('latin1'), out, 2, 20);
      const want = createHash('sha1').update(block).update(digest).digest();
      expect(out.subarray(2, 22)).toEqual(want);
      expect(out[0]).toBe(0xaa);
      expect(out[22]).toBe(0xaa);
    }
  });

  it('gives HMAC-SHA1 (RFC 2104) with a 20-byte key, truncated to 10 bytes as SRTP does', () => {
    const key = randomBytes(20);
    const message = randomBytes(1300);
    const k = Buffer.alloc(64);
    key.copy(k);
    const ipad = Buffer.from(k.map((b) => b ^ 0x36));
    const opad = Buffer.from(k.map((b) => b ^ 0x5c));
    const inner = createHash('sha1').update(ipad).update(message).digest('binary');
    const tag = Buffer.alloc(10);
    sha1Outer(sha1State(opad), inner, tag, 0, 10);
    expect(tag).toEqual(createHmac('sha1', key).update(message).digest().subarray(0, 10));
  });
});
