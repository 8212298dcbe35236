// calc_checksum() (mm/ksm.c): the low 32 bits of xxh64(page, seed 0), computed by a small
// WebAssembly function assembled here, byte by byte, from the xxHash64 specification
// (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md, "XXH64").
//
// Why not a library: xxhash-wasm's h64Raw() copies the input into its memory, then returns the
// 64-bit result as a BigInt, which the caller masks and converts: three BigInt allocations per
// page and a Buffer view. On ksmd's first scan that wrapper cost twice the hash itself (profile in
// apps/bench/README.md, "scan"). Here the module imports its memory, so it can be instantiated
// over the memory that holds the page contents (PhysMem's content arenas) and hash a page where
// it lies: no copy (a 4 KiB copy out of cold memory cost more than the hash), an i32 result.
//
// Only inputs whose length is a non-zero multiple of 32 bytes are supported (a page is 4096):
// XXH64 then consists of the 4-lane stripe loop, the lane merge, the length and the avalanche,
// with no tail bytes to mix.

const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;

// WebAssembly opcodes used below.
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_CONST = 0x41;
const I64_CONST = 0x42;
const I64_LOAD = 0x29;
const I32_ADD = 0x6a;
const I32_LT_U = 0x49;
const I64_ADD = 0x7c;
const I64_MUL = 0x7e;
const I64_XOR = 0x85;
const I64_SHR_U = 0x88;
const I64_ROTL = 0x89;
const I32_WRAP_I64 = 0xa7;
const I64_EXTLIMITI32_U = 0xad;
const LOOP = 0x03;
const BR_IF = 0x0d;
const END = 0x0b;
const VOID = 0x40;
const I32 = 0x7f;
const I64 = 0x7e;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb64(x: bigint): number[] {
  let v = BigInt.asIntN(64, x);
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

const i64 = (v: bigint): number[] => [I64_CONST, ...sleb64(v)];

/** The module: imports memory env.mem; h(ptr, len) = low 32 bits of xxh64(mem[ptr, ptr + len), 0). */
function assemble(): Uint8Array {
  // Locals: 0 = p (the i32 ptr parameter, advanced by the loop), 1 = len (i32 parameter),
  // 2 = limit (i32, ptr + len), 3..6 = the lanes v1..v4 (i64), 7 = h (i64).
  const P = 0;
  const LEN = 1;
  const LIMIT = 2;
  const V = [3, 4, 5, 6];
  const H = 7;
  const c: number[] = [];
  c.push(LOCAL_GET, P, LOCAL_GET, LEN, I32_ADD, LOCAL_SET, LIMIT);
  // Lane seeds for seed 0: v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1.
  c.push(...i64(P1 + P2), LOCAL_SET, V[0]);
  c.push(...i64(P2), LOCAL_SET, V[1]);
  c.push(...i64(0n), LOCAL_SET, V[2]);
  c.push(...i64(-P1), LOCAL_SET, V[3]);
  // Stripes: v[i] = rotl(v[i] + load64(p + 8i) * P2, 31) * P1; p += 32 while p < limit.
  c.push(LOOP, VOID);
  for (let i = 0; i < 4; i++) {
    c.push(LOCAL_GET, V[i], LOCAL_GET, P, I64_LOAD, 3, ...uleb(8 * i), ...i64(P2), I64_MUL, I64_ADD);
    c.push(...i64(31n), I64_ROTL, ...i64(P1), I64_MUL, LOCAL_SET, V[i]);
  }
  c.push(LOCAL_GET, P, I32_CONST, 32, I32_ADD, LOCAL_TEE, P, LOCAL_GET, LIMIT, I32_LT_U, BR_IF, 0, END);
  // h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)
  c.push(LOCAL_GET, V[0], ...i64(1n), I64_ROTL, LOCAL_GET, V[1], ...i64(7n), I64_ROTL, I64_ADD);
  c.push(LOCAL_GET, V[2], ...i64(12n), I64_ROTL, I64_ADD, LOCAL_GET, V[3], ...i64(18n), I64_ROTL, I64_ADD);
  c.push(LOCAL_SET, H);
  // Merge each lane: h = (h ^ (rotl(v * P2, 31) * P1)) * P1 + P4
  for (let i = 0; i < 4; i++) {
    c.push(LOCAL_GET, H, LOCAL_GET, V[i], ...i64(P2), I64_MUL, ...i64(31n), I64_ROTL, ...i64(P1), I64_MUL);
    c.push(I64_XOR, ...i64(P1), I64_MUL, ...i64(P4), I64_ADD, LOCAL_SET, H);
  }
  // h += len; avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32
  c.push(LOCAL_GET, H, LOCAL_GET, LEN, I64_EXTLIMITI32_U, I64_ADD, LOCAL_SET, H);
  c.push(LOCAL_GET, H, LOCAL_GET, H, ...i64(33n), I64_SHR_U, I64_XOR, ...i64(P2), I64_MUL, LOCAL_TEE, H);
  c.push(LOCAL_GET, H, ...i64(29n), I64_SHR_U, I64_XOR, ...i64(P3), I64_MUL, LOCAL_TEE, H);
  c.push(LOCAL_GET, H, ...i64(32n), I64_SHR_U, I64_XOR, I32_WRAP_I64, END);

  const body = [2, 1, I32, 5, I64, ...c]; // local declarations: 1 i32, 5 i64
  const section = (id: number, payload: number[]): number[] => [id, ...uleb(payload.length), ...payload];
  const name = (s: string): number[] => [s.length, ...Array.from(s, (ch) => ch.charCodeAt(0))];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0], // magic, version 1
    ...section(1, [1, 0x60, 2, I32, I32, 1, I32]), // types: (i32, i32) -> i32
    ...section(2, [1, ...name('env'), ...name('mem'), 2, 0, 0]), // imports: memory env.mem, min 0
    ...section(3, [1, 0]), // functions: 0 has type 0
    ...section(7, [1, ...name('h'), 0, 0]), // exports: h = function 0
    ...section(10, [1, ...uleb(body.length), ...body]), // code
  ]);
}

/** The slice of the WebAssembly JS API used here (lib ES2023 has no WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
    imports: { env: { mem: WasmMemory } },
  ) => { exports: { h: (ptr: number, len: number) => number } };
  Memory: new (desc: { initial: number; maximum: number }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;
const module = new wasm.Module(assemble());

/** Bytes per WebAssembly memory page. */
const WASM_PAGE = 65536;

/**
 * A fixed-size block of WebAssembly memory with the hash bound to it: `bytes` and `words` view
 * the whole block (it never grows, so the views stay valid), and `xxh64Low32(off, len)` hashes
 * bytes [off, off + len) where they lie.
 */
export class HashedMemory {
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  private readonly h: (ptr: number, len: number) => number;

  /** `size`: bytes, a multiple of 64 KiB. */
  constructor(size: number) {
    if (size <= 0 || size % WASM_PAGE !== 0) throw new RangeError(`HashedMemory: size ${size}`);
    const pages = size / WASM_PAGE;
    const mem = new wasm.Memory({ initial: pages, maximum: pages });
    this.h = new wasm.Instance(module, { env: { mem } }).exports.h;
    this.bytes = new Uint8Array(mem.buffer);
    this.words = new Uint32Array(mem.buffer);
  }

  /** Low 32 bits of xxh64(bytes[off, off + len), seed 0), unsigned; `off` 8-byte aligned. */
  xxh64Low32(off: number, len: number): number {
    if (len <= 0 || len % 32 !== 0 || (off & 7) !== 0 || off + len > this.bytes.length)
      throw new RangeError(`xxh64Low32: [${off}, +${len}) is not 32-byte stripes inside the memory`);
    return this.h(off, len) >>> 0;
  }
}

/** Scratch memory for hashing buffers that live elsewhere (one 64 KiB page). */
let scratch: HashedMemory | null = null;

/** Low 32 bits of xxh64(bytes, seed 0), unsigned; bytes.length a non-zero multiple of 32, at
 * most 64 KiB. Copies the bytes into a scratch memory first. */
export function xxh64Low32(bytes: Uint8Array): number {
  if (bytes.length > WASM_PAGE) throw new RangeError(`xxh64Low32: length ${bytes.length} exceeds 65536`);
  scratch ??= new HashedMemory(WASM_PAGE);
  scratch.bytes.set(bytes);
  return scratch.xxh64Low32(0, bytes.length);
}
