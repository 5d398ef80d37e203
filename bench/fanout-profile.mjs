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

/**
 * A heap snapshot of this process (bench/fanout.mjs --heap), and its self sizes summed by
 * constructor (or node type for strings, arrays, code), so that two snapshots show what each
 * viewer holds.
 */
export async function heapSummary(path) {
  const { writeHeapSnapshot } = await import('node:v8');
  const { readFileSync } = await import('node:fs');
  globalThis.gc?.();
  writeHeapSnapshot(path);
  const snap = JSON.parse(readFileSync(path, 'utf8'));
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const types = meta.node_types[0];
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const n = fields.length;
  const nodes = snap.nodes;
  const strings = snap.strings;
  const by = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += n) {
    const type = types[nodes[i + iType]];
    const size = nodes[i + iSize];
    const key = type === 'object' || type === 'closure' ? `${type === 'closure' ? 'closure ' : ''}${strings[nodes[i + iName]]}` : `(${type})`;
    const e = by.get(key) ?? { size: 0, count: 0 };
    e.size += size;
    e.count++;
    by.set(key, e);
    total += size;
  }
  return { total, by };
}

/** The difference of two heap summaries per viewer: what grew, largest first. */
export function printHeapDiff(before, after, viewers, top = 25, log = console.log) {
  log(`  heap: ${(before.total / 2 ** 20).toFixed(1)} MB -> ${(after.total / 2 ** 20).toFixed(1)} MB; ` +
    `${((after.total - before.total) / viewers / 1024).toFixed(1)} KB per viewer; what grew, per viewer:`);
  const rows = [];
  for (const [k, a] of after.by) {
    const b = before.by.get(k) ?? { size: 0, count: 0 };
    rows.push([k, (a.size - b.size) / viewers, (a.count - b.count) / viewers]);
  }
  rows.sort((x, y) => y[1] - x[1]);
  for (const [k, size, count] of rows.slice(0, top)) {
    log(`    ${(size / 1024).toFixed(2).padStart(7)} KB  ${count.toFixed(1).padStart(7)} objects  ${k.slice(0, 90)}`);
  }
}

/**
 * A sampling allocation profile of this process (bench/fanout.mjs --alloc) that keeps only
 * what the young generation did not collect: objects a major GC freed or still alive at the
 * end. Those are what drives major GCs, whose marking cost grows with the heap (every
 * session's objects) and which the GC threads take from the server's one core.
 */
export async function startAllocationProfile(samplingInterval = 16384) {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: false,
  });
  const t0 = performance.now();
  return {
    async stop(path) {
      const { profile } = await session.post('HeapProfiler.stopSampling');
      const seconds = (performance.now() - t0) / 1000;
      await session.post('HeapProfiler.disable');
      session.disconnect();
      writeFileSync(path, JSON.stringify(profile));
      return { profile, seconds };
    },
  };
}

/** Bytes per second by allocation site (the innermost frame of ours or of a package). */
export function printAllocationSummary({ profile, seconds }, top = 25, log = console.log) {
  const sites = new Map();
  let total = 0;
  const walk = (node, site) => {
    const f = node.callFrame;
    const file = f.url ? f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/') : '';
    const here = file && !file.startsWith('node:') ? `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}` : site;
    const key = here ?? '(no JS frame)';
    if (node.selfSize) {
      const inner = f.url ? `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}` : f.functionName;
      const k = inner === key ? key : `${key} <- ${inner}`;
      sites.set(k, (sites.get(k) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const c of node.children) walk(c, here);
  };
  walk(profile.head, undefined);
  log(`  allocations that outlived the young generation: ${(total / seconds / 2 ** 20).toFixed(2)} MB/s (sampled); by site:`);
  for (const [k, b] of [...sites].sort((a, c) => c[1] - a[1]).slice(0, top)) {
    log(`    ${(b / seconds / 1024).toFixed(1).padStart(8)} KB/s  ${k.slice(0, 150)}`);
  }
}
