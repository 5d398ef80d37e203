/**
 * A deterministic SDP mutator for the hostile-input tests: the same seed gives the same
 * mutations, so a failure can be replayed.
 */

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Lines = string[];
type Mutation = (lines: Lines, r: () => number) => Lines;

const pick = <T>(xs: T[], r: () => number): T => xs[Math.floor(r() * xs.length)];
const idx = (lines: Lines, r: () => number) => Math.floor(r() * lines.length);
const where = (lines: Lines, re: RegExp) => lines.map((l, i) => (re.test(l) ? i : -1)).filter((i) => i >= 0);

const NUMBERS = ['0', '1', '-1', '9', '65535', '65536', '4294967296', '99999999999999999999', 'NaN', ''];
const MIDS = ['', '0', '1', '2', 'video', 'x y', 'a'.repeat(300), '0 1'];

const MUTATIONS: Mutation[] = [
  // Drop a line (any, or one that matters most).
  (l, r) => l.filter((_, i) => i !== idx(l, r)),
  (l, r) => {
    const mids = where(l, /^a=mid:/);
    return mids.length ? l.filter((_, i) => i !== pick(mids, r)) : l;
  },
  (l) => l.filter((x) => !x.startsWith('a=group:BUNDLE')),
  (l) => l.filter((x) => !/^a=(ice-ufrag|ice-pwd|fingerprint|setup):/.test(x)),
  // Duplicate or swap lines.
  (l, r) => {
    const i = idx(l, r);
    return [...l.slice(0, i), l[i], ...l.slice(i)];
  },
  (l, r) => {
    const c = [...l];
    const i = idx(c, r);
    const j = idx(c, r);
    [c[i], c[j]] = [c[j], c[i]];
    return c;
  },
  // Replace a number somewhere.
  (l, r) => {
    const i = idx(l, r);
    const c = [...l];
    c[i] = c[i].replace(/\d+/, pick(NUMBERS, r));
    return c;
  },
  // Reject, or change, an m-line's port; change its protocol or formats.
  (l, r) => {
    const ms = where(l, /^m=/);
    if (!ms.length) return l;
    const c = [...l];
    const i = pick(ms, r);
    c[i] = c[i].replace(/^(m=\w+) \d+/, `$1 ${pick(['0', '9', '1'], r)}`);
    return c;
  },
  (l, r) => {
    const ms = where(l, /^m=/);
    if (!ms.length) return l;
    const c = [...l];
    const i = pick(ms, r);
    c[i] = pick([c[i].replace(/ [\d ]+$/, ''), c[i] + ' 96 96', c[i].replace('video', 'audio'), c[i].replace(/UDP\/\S+/, 'RTP/AVP'), 'm=video'], r);
    return c;
  },
  // Mids: change, clash, or make the group name unknown ones.
  (l, r) => {
    const mids = where(l, /^a=mid:/);
    if (!mids.length) return l;
    const c = [...l];
    c[pick(mids, r)] = `a=mid:${pick(MIDS, r)}`;
    return c;
  },
  (l, r) => l.map((x) => (x.startsWith('a=group:BUNDLE') ? `a=group:BUNDLE ${pick(MIDS, r)} ${pick(MIDS, r)}` : x)),
  // Directions and the DTLS role.
  (l, r) => l.map((x) => (/^a=(sendrecv|recvonly|sendonly|inactive)$/.test(x) ? `a=${pick(['sendrecv', 'sendonly', 'inactive', 'recvonly'], r)}` : x)),
  (l, r) => l.map((x) => (x.startsWith('a=setup:') ? `a=setup:${pick(['active', 'passive', 'holdconn', '', 'actpass'], r)}` : x)),
  // An extra m-section copied from another one, or removed.
  (l, r) => {
    const ms = where(l, /^m=/);
    if (!ms.length) return l;
    const k = pick(ms, r);
    const end = ms.find((m) => m > k) ?? l.length;
    return [...l, ...l.slice(k, end)];
  },
  (l, r) => {
    const ms = where(l, /^m=/);
    if (!ms.length) return l;
    const k = pick(ms, r);
    const end = ms.find((m) => m > k) ?? l.length;
    return [...l.slice(0, k), ...l.slice(end)];
  },
  // rtpmap/fmtp/ssrc garbage, truncation, a stray attribute.
  (l, r) => l.map((x) => (x.startsWith('a=rtpmap:') && r() < 0.5 ? `a=rtpmap:${pick(NUMBERS, r)} ${pick(['VP8/90000', 'H264/90000', 'x', '', 'VP8'], r)}` : x)),
  (l, r) => l.slice(0, 1 + idx(l, r)),
  (l, r) => {
    const i = idx(l, r);
    return [...l.slice(0, i), pick(['a=ssrc:1 cname:x', 'a=msid:- -', 'a=extmap:1 x', 'a=rtcp-mux', 'a=sctp-port:0', 'a=max-message-size:-1', 'c=IN IP4 0.0.0.0', 'a=candidate:1 1 udp 1 127.0.0.1 9 typ host'], r), ...l.slice(i)];
  },
];

/** One to three mutations of `sdp`, chosen by `r`. */
export function mutateSdp(sdp: string, r: () => number): string {
  let lines = sdp.split(/\r\n/).filter((x) => x !== '');
  const n = 1 + Math.floor(r() * 3);
  for (let k = 0; k < n; k++) lines = pick(MUTATIONS, r)(lines, r);
  if (lines[0] !== 'v=0') lines.unshift('v=0');
  return lines.join('\r\n') + '\r\n';
}

// Which ports this process holds UDP sockets on (for diagnostics: which side leaked).
export { ownUdpPorts } from '../helpers/udp-sockets';
