// V8 keeps an object's numeric field as a small integer (a Smi: 31 bits with pointer compression)
// until a value outside that range is stored in it. Then the field becomes a double, the object's
// hidden class is replaced, and every optimised function that read or wrote the field through the
// old class is deoptimised and compiled again. A count that passes 2^30 in the middle of a run
// (bytesHashed after 1 GiB hashed, bytesCompared after 128k merges) or a page-table word of a PFN
// from 2^18 on would do that inside a hot loop, once per process, at a point no warm-up on small
// inputs reaches. Fields that can hold such values are made doubles when their object is built.

/** A number that is not a Smi: storing it gives a field the double representation. */
const NOT_A_SMI = 0.5;

/**
 * Make the named numeric fields of `obj` double fields from now on, keeping their values (each is
 * set to a non-integral number, then back). No effect on what any code computes, only on where
 * V8 deoptimises.
 */
export function doubleFields<T extends object>(obj: T, keys: readonly (keyof T & string)[]): void {
  const o = obj as unknown as Record<string, number>;
  for (const k of keys) {
    const v = o[k];
    o[k] = NOT_A_SMI;
    o[k] = v;
  }
}
