import { RtpPacket, Vp8Packetizer } from 'werift';
import { IvfFrame, isVp8Keyframe, parseIvf } from '../ivf';
import { RTP_VIDEO_CLOCK } from './rtp-rewriter';

export interface IvfPlayerOptions {
  /** The IVF file's contents (VP8). */
  data: Buffer;
  /** Start again at the first frame after the last (default true). */
  loop?: boolean;
  payloadType?: number;
  /** Every packet, in order; `keyframeStart` on the first packet of a keyframe. */
  onPacket: (packet: RtpPacket, keyframeStart: boolean) => void;
  /** Played once: called when the last frame's duration has passed. */
  onEnd?: () => void;
}

/**
 * Plays a VP8 IVF clip in real time, packetized in-process with werift's `Vp8Packetizer`.
 * RTP timestamps and sequence numbers run on across loops. Frames are scheduled against
 * the start time, so timer delays do not add up.
 */
export class IvfPlayer {
  readonly frames: IvfFrame[];
  /** Duration of each frame in 90 kHz ticks. */
  readonly frameTicks: number[];
  readonly width: number;
  readonly height: number;
  private readonly loop: boolean;
  private readonly packetizer: Vp8Packetizer;
  private timer?: NodeJS.Timeout;
  private index = 0;
  private rtpTimestamp = Math.floor(Math.random() * 0xffffffff);
  private startedAt = 0;
  private nextDueMs = 0;
  private _loops = 0;

  constructor(private readonly options: IvfPlayerOptions) {
    const { header, frames } = parseIvf(options.data);
    if (header.fourcc !== 'VP80') throw new Error(`expected VP8 in the IVF file, found ${header.fourcc}`);
    if (!isVp8Keyframe(frames[0].data)) throw new Error('the first frame of the IVF file is not a keyframe');
    this.frames = frames;
    this.width = header.width;
    this.height = header.height;
    this.loop = options.loop ?? true;
    this.packetizer = new Vp8Packetizer({ payloadType: options.payloadType ?? 96 });
    // Each frame lasts until the next one's pts; the last lasts as long as the one before
    // it, so a loop keeps the frame rate.
    const tick = (pts: number) => Math.round((pts * header.timebaseNum * RTP_VIDEO_CLOCK) / header.timebaseDen);
    this.frameTicks = frames.map((f, i) =>
      i + 1 < frames.length ? tick(frames[i + 1].pts) - tick(f.pts) : i > 0 ? tick(f.pts) - tick(frames[i - 1].pts) : 3000,
    );
  }

  /** Completed passes through the clip. */
  get loops(): number {
    return this._loops;
  }

  get playing(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer) return;
    this.startedAt = performance.now();
    this.nextDueMs = 0;
    this.sendNext();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly sendNext = (): void => {
    const frame = this.frames[this.index];
    const packets = this.packetizer.packetize(frame.data, this.rtpTimestamp);
    const key = isVp8Keyframe(frame.data);
    const ticks = this.frameTicks[this.index];
    this.rtpTimestamp = (this.rtpTimestamp + ticks) >>> 0;
    this.index++;
    this.nextDueMs += (ticks * 1000) / RTP_VIDEO_CLOCK;
    const wait = Math.max(0, this.nextDueMs - (performance.now() - this.startedAt));
    if (this.index >= this.frames.length) {
      this.index = 0;
      this._loops++;
      if (!this.loop) {
        // The last frame is shown for its duration, then the clip ends.
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.options.onEnd?.();
        }, wait);
        packets.forEach((p, i) => this.options.onPacket(p, key && i === 0));
        return;
      }
    }
    this.timer = setTimeout(this.sendNext, wait);
    packets.forEach((p, i) => this.options.onPacket(p, key && i === 0));
  };
}
