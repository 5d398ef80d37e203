/**
 * The published WHEP player (@eyevinn/webrtc-player) in headless Firefox (Debian's
 * firefox-esr, WebDriver BiDi through puppeteer-core). Firefox gathers candidates only on the
 * default route's interface, so the service, the page and Firefox run together in a private
 * network namespace with a veth test address (test/whep/firefox-whep-run.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';
const ROOT = join(__dirname, '..', '..');

function missing(): string | undefined {
  try {
    accessSync(FIREFOX, constants.X_OK);
  } catch {
    return `Firefox not found at ${FIREFOX} (Debian's firefox-esr)`;
  }
  if (spawnSync('unshare', ['-n', 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'ignore' }).status !== 0) {
    return 'cannot make a private network namespace (unshare -n, ip; needs root)';
  }
  return undefined;
}

const why = missing();
if (why && !process.env.CI) console.warn(`SKIPPING the WHEP Firefox test: ${why}`);
const describeIf = !why || process.env.CI ? describe : describe.skip;

describeIf('a published WHEP player (@eyevinn/webrtc-player) in headless Firefox', () => {
  it('plays (frames, 640x360), counts as a viewer, freezes on stop-video and plays on after resume, and unload DELETEs it', async () => {
    if (why) throw new Error(`${why}; this test cannot be skipped in CI`);
    const child = spawn('unshare', ['-n', process.execPath, '-r', join(ROOT, 'test/helpers/ts-register.js'), join(__dirname, 'firefox-whep-run.ts')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: a hung run is killed with Firefox and all
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const guard = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 80_000);
    await new Promise((resolve) => child.on('exit', resolve));
    clearTimeout(guard);
    let result: Record<string, unknown>;
    try {
      result = JSON.parse(out.trim().split('\n').pop() ?? '');
    } catch {
      throw new Error(`the Firefox run printed no result:\n${out}\n${err.slice(-3000)}`);
    }
    if (!result.ok) throw new Error(`the Firefox run failed: ${result.error}\n${err.slice(-3000)}`);
    expect(result).toMatchObject({
      browser: expect.stringMatching(/^firefox\//),
      size: [640, 360],
      owner: 'whep:',
      viewers: 1,
      stoppedState: 'data-only',
      framesWhileStopped: 0,
      resumed: true,
      connection: 'connected',
      sessionsAfterUnload: 0,
    });
  }, 90_000);
});
