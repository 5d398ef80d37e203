import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MediaSource } from './media-source';
import { IvfPlayer } from './sources/ivf-player';

/** The clip shipped with the project (see scripts/make-test-clip.sh). */
export const DEFAULT_TEST_CLIP = join(__dirname, '..', '..', 'assets', 'test-pattern.ivf');

/**
 * The built-in source: a VP8 clip read once into memory and looped forever in real time.
 * Packetized once for every viewer; RTP timestamps and sequence numbers run on across
 * loops, so a viewer never sees the loop as a discontinuity.
 */
export class TestPatternSource extends MediaSource {
  readonly kind = 'test';
  readonly codec = 'VP8' as const;

  private player?: IvfPlayer;

  constructor(
    private readonly file: string = DEFAULT_TEST_CLIP,
    readonly id: string = 'test',
  ) {
    super();
  }

  protected start(): void {
    try {
      this.player = new IvfPlayer({
        data: readFileSync(this.file),
        loop: true,
        payloadType: 96,
        onPacket: (packet, key) => this.publish(packet, key),
      });
    } catch (err) {
      throw new Error(`${this.file}: ${(err as Error).message}`);
    }
    this.player.start();
  }

  protected stop(): void {
    this.player?.stop();
    this.player = undefined;
  }
}
