import { tuneHeapGrowing } from './gc-tuning';

// What the setting does to GC is measured in bench/fanout.mjs (`--heap-growing=0` against
// the default, `--trace-gc`): V8's heuristics are not a contract a unit test could hold.
describe('tuneHeapGrowing', () => {
  it('refuses what V8 would misread', () => {
    for (const bad of [-1, 1.5, 1001, Number.NaN]) expect(() => tuneHeapGrowing(bad)).toThrow(RangeError);
  });
});
