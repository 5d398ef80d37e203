import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vp8Packetizer } from 'werift';
import { IvfFrame, isVp8Keyframe, parseIvf } from './ivf';
import { MediaSource } from './media-source';

/** The clip shipped with the project (see scripts/make-test-clip.sh). */
export const DEFAULT_TEST_CLIP = join(__dirname, '..', '..', 'assets', 'test-pattern.ivf');

const RTP_CLOCK = 90_000;

/**
 * The built-in source: a VP8 clip read once into memory and looped forever in real time.
 * Packetized once for every viewer; RTP timestamps and sequence numbers run on across
 * loops, so a viewer never sees the loop as a discontinuity.
 */
export class TestPatternSource extends MediaSource {
  readonly id: string = 'test';
  readonly kind = 'test-pattern';
  readonly codec = 'VP8' as const;

  private frames: IvfFrame[] = [];
  private frameTicks: number[] = [];
  private packetizer = new Vp8Packetizer({ payloadType: 96 });
  private timer?: NodeJS.Timeout;
  private index = 0;
  private rtpTimestamp = Math.floor(Math.random() * 0xffffffff);
  private startedAt = 0;
  /** Wall-clock offset (ms) of the next frame since startedAt. */
  private nextDueMs = 0;

  constructor(private readonly file: string = DEFAULT_TEST_CLIP) {
    super();
  }

  protected start(): void {
    const { header, frames } = parseIvf(readFileSync(this.file));
    if (header.fourcc !== 'VP80') throw new Error(`${this.file}: expected VP8, found ${header.fourcc}`);
    if (!isVp8Keyframe(frames[0].data)) throw new Error(`${this.file}: the first frame is not a keyframe`);
    this.frames = frames;
    // Duration of each frame in 90 kHz ticks, from the pts of the next frame; the last
    // frame lasts as long as the one before it, so the loop keeps the frame rate.
    const tick = (pts: number) => Math.round((pts * header.timebaseNum * RTP_CLOCK) / header.timebaseDen);
    this.frameTicks = frames.map((f, i) =>
      i + 1 < frames.length ? tick(frames[i + 1].pts) - tick(f.pts) : i > 0 ? tick(f.pts) - tick(frames[i - 1].pts) : 3000,
    );
    this.startedAt = performance.now();
    this.nextDueMs = 0;
    this.sendNext();
  }

  protected stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private sendNext = (): void => {
    const frame = this.frames[this.index];
    const packets = this.packetizer.packetize(frame.data, this.rtpTimestamp);
    const key = isVp8Keyframe(frame.data);
    packets.forEach((p, i) => this.publish(p, key && i === 0));

    const ticks = this.frameTicks[this.index];
    this.rtpTimestamp = (this.rtpTimestamp + ticks) >>> 0;
    this.index = (this.index + 1) % this.frames.length;
    // Schedule against the start time, not the previous timer, so delays do not add up.
    this.nextDueMs += (ticks * 1000) / RTP_CLOCK;
    const wait = this.nextDueMs - (performance.now() - this.startedAt);
    this.timer = setTimeout(this.sendNext, Math.max(0, wait));
  };
}
