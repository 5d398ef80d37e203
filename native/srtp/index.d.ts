/** An opaque per-protector handle (OpenSSL contexts and the HMAC key state), freed by GC or `close`. */
export type SrtpHandle = { readonly __srtpHandle: unique symbol };

/**
 * A protector for one key: `profile` 0x0001 (AES_CM_128_HMAC_SHA1_80) or 0x0007
 * (AEAD_AES_128_GCM); `head` is the offset of the RTP header in every output buffer.
 * `hmacMode` picks the OpenSSL API of the HMAC (0 SHA_CTX states, the default and fastest;
 * 1 HMAC_CTX; 2 EVP_MD_CTX copies; 3 EVP_MAC), for measurements.
 */
export function create(profile: number, head: number, key: Uint8Array, salt: Uint8Array, authKey: Uint8Array | null, hmacMode?: number): SrtpHandle;

/**
 * Encrypts `plain` into `out` after the header at `out[head .. head + headerLength)` and
 * writes the tag after it (AES-CM: HMAC over header, payload and ROC; GCM: header as AAD).
 * `index` is the 48-bit packet index (ROC * 65536 + sequence number). Returns the SRTP
 * packet's length from `head`.
 */
export function protect(handle: SrtpHandle, out: Uint8Array, headerLength: number, plain: Uint8Array, ssrc: number, index: number): number;

/**
 * Builds one SRTP packet at `out[offset]`: `header` copied there, `plain` encrypted after it,
 * then the tag (as `protect`). Returns its length. Packets built back to back this way can go
 * out in one `sendSegments`.
 */
export function protectInto(handle: SrtpHandle, out: Uint8Array, offset: number, header: Uint8Array, plain: Uint8Array, ssrc: number, index: number): number;

/** Frees the handle's OpenSSL state now; later `protect` calls throw. Idempotent. */
export function close(handle: SrtpHandle): void;

/**
 * Sends `buf[offset .. offset + length)` as one datagram on the UDP socket descriptor `fd` to
 * the IPv4 address `ipv4` (a 32-bit number, 127.0.0.1 = 0x7f000001) and `port`. Returns the
 * bytes sent, or a negative errno (-EAGAIN, -11 on Linux: the socket buffer is full).
 */
export function sendto(fd: number, buf: Uint8Array, offset: number, length: number, ipv4: number, port: number): number;

/**
 * Sends `buf[offset .. offset + length)` as datagrams of `segmentSize` bytes (the last one may
 * be shorter; at most 64 of them, 65,000 bytes in all) on `fd` to `ipv4:port`, with one
 * `sendmsg` and UDP_SEGMENT (Linux UDP GSO). Returns the bytes sent, or a negative errno:
 * -EAGAIN (-11) when the socket buffer is full; -EINVAL, -EIO, -ENOPROTOOPT or -EOPNOTSUPP
 * where the kernel or device cannot segment; -ENOSYS off Linux. Nothing went out then.
 */
export function sendSegments(fd: number, buf: Uint8Array, offset: number, length: number, segmentSize: number, ipv4: number, port: number): number;

/** The OpenSSL the addon runs on (Node's). */
export const openssl: string;
