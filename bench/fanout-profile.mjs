/**
 * CPU profile of the server's main thread over a measurement window (bench/fanout.mjs
 * --profile): V8's sampling profiler through the inspector, written as a .cpuprofile (open it
 * in Chrome DevTools) and summarised as self time per function, and per group of functions.
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';

export async function startProfile(intervalUs = 200) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await session.post('Profiler.start');
  return {
    async stop(path) {
      const { profile } = await session.post('Profiler.stop');
      await session.post('Profiler.disable');
      session.disconnect();
      writeFileSync(path, JSON.stringify(profile));
      return summarise(profile);
    },
  };
}

/** Where a function belongs, by its script (for the grouped view). */
function groupOf(url, name) {
  if (!url) {
    if (name === '(garbage collector)') return 'GC';
    if (name === '(idle)' || name === '(program)') return name;
    return 'native/builtin';
  }
  if (url.includes('/werift')) return 'werift';
  if (url.includes('/socket.io') || url.includes('/engine.io') || url.includes('/ws/')) return 'socket.io';
  if (url.includes('/@nestjs')) return 'nest';
  if (url.includes('/media/fanout/')) return 'ours: lean path';
  if (url.includes('/dist/')) return 'ours: other';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  return 'other';
}

/** Self time per function and per group, descending. */
export function summarise(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0));
  }
  let total = 0;
  const fns = new Map();
  const groups = new Map();
  for (const [id, us] of self) {
    const { callFrame: f } = byId.get(id);
    const name = f.functionName || '(anonymous)';
    const file = f.url ? f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/') : '';
    const key = `${name} ${file}:${f.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const g = groupOf(f.url, name);
    groups.set(g, (groups.get(g) ?? 0) + us);
    total += us;
  }
  const busy = total - (groups.get('(idle)') ?? 0);
  const sort = (m) => [...m].sort((a, b) => b[1] - a[1]);
  return { totalUs: total, busyUs: busy, functions: sort(fns), groups: sort(groups) };
}

export function printSummary(s, top = 30, log = console.log) {
  const pct = (us) => ((100 * us) / s.busyUs).toFixed(1).padStart(5);
  log(`  profile: main thread busy ${(s.busyUs / 1000).toFixed(0)} ms of ${(s.totalUs / 1000).toFixed(0)} ms sampled`);
  log('  by group (share of busy time):');
  for (const [g, us] of s.groups) if (g !== '(idle)') log(`    ${pct(us)} %  ${g}`);
  log(`  top ${top} functions (self time):`);
  for (const [k, us] of s.functions.filter(([k]) => !k.startsWith('(idle)')).slice(0, top)) log(`    ${pct(us)} %  ${k}`);
}
