import { Logger } from '@nestjs/common';
import { RtpHeader, RtpPacket } from 'werift';
import { codecForOffer, h264Profile, videoCodecsOf } from './codecs';
import { createSource } from './create-source';
import { MediaSource } from './media-source';
import { SourceConfigError, parseSourceConfigs, sourceConfigProblems } from './source-config';
import { MediaSourceRegistry } from './source-registry';
import { RtpSource, codecParametersFor } from './sources/rtp.source';
import { FileSource } from './sources/file.source';
import { RtspSource } from './sources/rtsp.source';
import { childPids, ownUdpSocketsOnPort } from './sources/testing/helpers';
import { ManualSource } from './sources/testing/manual-source';
import { TestPatternSource } from './test-pattern.source';

describe('source configuration', () => {
  it('accepts every kind and refuses bad entries, listing every problem at once', () => {
    const good = [
      { id: 'cam1', kind: 'rtsp', url: 'rtsp://user:pw@127.0.0.1:8554/cam' },
      { id: 'enc', kind: 'rtp', codec: 'H264', port: 5004, profileLevelId: 'auto' },
      { id: 'vod', kind: 'file', path: '/tmp/x.mp4', loop: false },
      { id: 'pattern2', kind: 'test' },
    ];
    expect(sourceConfigProblems(good)).toEqual([]);
    expect(parseSourceConfigs(good)).toHaveLength(4);
    const problems = sourceConfigProblems(
      [
        { id: 'a', kind: 'rtp', codec: 'VP9', port: 70000 },
        { id: 'a', kind: 'file' },
        { id: 'bad id!', kind: 'webcam' },
        { id: 'test', kind: 'test', extra: 1 },
        'nope',
      ],
      'SOURCES',
      ['test'],
    );
    const text = problems.join('\n');
    expect(text).toContain('SOURCES[0].codec');
    expect(text).toContain('SOURCES[0].port');
    expect(text).toContain('SOURCES[1].path');
    expect(text).toContain('SOURCES[1].id: "a" is already used');
    expect(text).toContain('SOURCES[2].kind');
    expect(text).toContain('SOURCES[3].extra');
    expect(text).toContain('SOURCES[3].id: "test" is already used');
    expect(text).toContain('SOURCES[4]: must be an object');
    expect(() => parseSourceConfigs({})).toThrow(SourceConfigError);
  });

  it('createSource builds each kind', () => {
    expect(createSource({ id: 't2', kind: 'test' })).toBeInstanceOf(TestPatternSource);
    expect(createSource({ id: 't2', kind: 'test' }).id).toBe('t2');
    expect(createSource({ id: 'r', kind: 'rtp', codec: 'VP8', port: 5004 })).toBeInstanceOf(RtpSource);
    expect(createSource({ id: 's', kind: 'rtsp', url: 'rtsp://127.0.0.1/x' })).toBeInstanceOf(RtspSource);
    expect(createSource({ id: 'f', kind: 'file', path: 'x.webm' })).toBeInstanceOf(FileSource);
  });
});

describe('MediaSourceRegistry', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));

  it('holds the default and the named sources, starts them on init and releases everything on destroy', async () => {
    const def = new TestPatternSource();
    const manual = new ManualSource('inline');
    const registry = new MediaSourceRegistry(def, {
      sources: [{ id: 'rtp1', kind: 'rtp', codec: 'VP8', port: 0 }, { id: 'cam', kind: 'rtsp', url: 'rtsp://127.0.0.1:1/none', ffmpegPath: '/usr/bin/ffmpeg' }, manual],
    });
    expect(registry.ids()).toEqual(['test', 'rtp1', 'cam', 'inline']);
    expect(registry.get()).toBe(def);
    expect(registry.get('nope')).toBeUndefined();
    await registry.onModuleInit();
    const rtp = registry.get('rtp1') as RtpSource;
    const port = rtp.port;
    expect(ownUdpSocketsOnPort(port)).toBe(1);
    expect(registry.list().map((s) => [s.id, s.kind, s.codec, s.mimeType])).toEqual([
      ['test', 'test', 'VP8', 'video/VP8'],
      ['rtp1', 'rtp', 'VP8', 'video/VP8'],
      ['cam', 'rtsp', 'H264', 'video/H264'],
      ['inline', 'manual', 'VP8', 'video/VP8'],
    ]);
    expect(registry.list()[3].state).toBe('live');
    await registry.onModuleDestroy();
    expect(ownUdpSocketsOnPort(port)).toBe(0);
    expect(childPids('ffmpeg')).toEqual([]);
    expect(registry.get('inline')!.currentState).toBe('stopped');
  });

  it('refuses bad configurations and an unknown default', () => {
    const def = new TestPatternSource();
    expect(() => new MediaSourceRegistry(def, { sources: [{ id: 'test', kind: 'test' }] })).toThrow(/already used/);
    expect(() => new MediaSourceRegistry(def, { defaultSource: 'x' })).toThrow(/names no source/);
    expect(new MediaSourceRegistry(def, { sources: [new ManualSource('m')], defaultSource: 'm' }).get()!.id).toBe('m');
  });

  it('fails init when a source cannot start, and leaves nothing running', async () => {
    const registry = new MediaSourceRegistry(new TestPatternSource(), {
      sources: [{ id: 'ok', kind: 'rtp', codec: 'VP8', port: 0 }, { id: 'missing', kind: 'file', path: '/nonexistent/clip.ivf' }],
    });
    await expect(registry.onModuleInit()).rejects.toThrow(/missing: .*ENOENT/);
    expect(registry.get('ok')!.currentState).toBe('stopped');
  });
});

describe('picture loss and per-viewer continuity', () => {
  it('replays the cached group of pictures to one viewer at the next frame, keeping its numbers continuous', async () => {
    const src = new ManualSource();
    const a: [number, number][] = [];
    const b: [number, number][] = [];
    src.push(100, 9000, true, false);
    src.push(101, 9000, false, true);
    src.push(102, 12000, false, true);
    const ta = src.subscribe((p) => a.push([p.header.sequenceNumber, p.header.timestamp]));
    src.subscribe((p) => b.push([p.header.sequenceNumber, p.header.timestamp]));
    // The keyframe at once, the rest of the cached group on the next event-loop turn.
    expect(a).toEqual([[100, 9000], [101, 9000]]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(a).toEqual([[100, 9000], [101, 9000], [102, 12000]]);
    src.push(103, 15000, false, false);
    expect(src.pictureLoss(ta)).toBe('replay');
    expect(src.pictureLoss(ta)).toBe('limited'); // rate limit
    src.push(104, 15000, false, true); // same frame: no replay yet
    src.push(105, 18000, false, true); // next frame: replay first
    // The replay: 5 packets (100..104), new sequence numbers, timestamps one tick apart.
    expect(a.slice(3)).toEqual([
      [103, 15000],
      [104, 15000],
      [105, 15001],
      [106, 15001],
      [107, 15002],
      [108, 15003],
      [109, 15003],
      [110, 18000],
    ]);
    // The other viewer saw only the live packets, unchanged.
    expect(b.slice(3)).toEqual([[103, 15000], [104, 15000], [105, 18000]]);
    src.push(106, 21000, false, true);
    expect(a[a.length - 1]).toEqual([111, 21000]);
    // The shared packets were not changed.
    expect(b[b.length - 1]).toEqual([106, 21000]);
  });

  it('asks the source for a keyframe when it can make one', () => {
    const src = new ManualSource();
    src.canMakeKeyframes = true;
    src.push(1, 0, true);
    const t = src.subscribe(() => undefined);
    expect(src.pictureLoss(t, 0)).toBe('source');
    expect(src.keyframeRequests).toBe(1);
    t.stop();
    expect(src.pictureLoss(t, 0)).toBe('ended');
  });
});

describe('codec negotiation', () => {
  const offer = (lines: string[]) => ['v=0', 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'm=video 9 UDP/TLS/RTP/SAVPF 96 102 104 106', ...lines].join('\r\n');
  const chromium = offer([
    'a=rtpmap:96 VP8/90000',
    'a=rtpmap:102 H264/90000',
    'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
    'a=rtpmap:104 H264/90000',
    'a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    'a=rtpmap:106 H264/90000',
    'a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f',
  ]);

  it('reads profiles and offered codecs', () => {
    expect(h264Profile('42e01f')).toBe('constrained-baseline');
    expect(h264Profile('42c00d')).toBe('constrained-baseline');
    expect(h264Profile('42001f')).toBe('baseline');
    expect(h264Profile('4d001f')).toBe('main');
    expect(h264Profile('640c1f')).toBe('constrained-high');
    expect(h264Profile('64001f')).toBe('high');
    expect(videoCodecsOf(chromium).map((c) => c.name)).toEqual(['VP8', 'H264', 'H264', 'H264']);
  });

  it('picks the offered H.264 that decodes the source, or none', () => {
    expect(codecForOffer('H264', codecParametersFor('H264', '42e01f'), chromium)?.parameters).toContain('profile-level-id=42e01f');
    // Constrained High: the offered High decodes it; werift needs the offered string.
    expect(codecForOffer('H264', codecParametersFor('H264', '640c1f'), chromium)?.parameters).toContain('profile-level-id=64001f');
    // A Main stream: no Main or High offered except High.
    expect(codecForOffer('H264', codecParametersFor('H264', '4d001f'), chromium)?.parameters).toContain('64001f');
    const vp8Only = offer(['a=rtpmap:96 VP8/90000']);
    expect(codecForOffer('H264', codecParametersFor('H264'), vp8Only)).toBeUndefined();
    expect(codecForOffer('VP8', codecParametersFor('VP8'), vp8Only)?.mimeType).toBe('video/VP8');
    const mode0 = offer(['a=rtpmap:102 H264/90000', 'a=fmtp:102 packetization-mode=0;profile-level-id=42e01f']);
    expect(codecForOffer('H264', codecParametersFor('H264'), mode0)).toBeUndefined();
  });
});
