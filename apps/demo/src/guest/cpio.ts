// An initramfs is a cpio archive in the "newc" format (Documentation/driver-api/early-userspace/
// buffer-format.rst); the kernel unpacks it uncompressed as well, so no compressor is needed.

const NEWC_MAGIC = '070701';
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const ALIGN = 4;

export interface CpioEntry {
  /** Path inside the archive, without a leading slash ("init", "mmsim/manifest"). */
  path: string;
  /** File contents; undefined for a directory. */
  data?: Buffer;
  /** Permission bits (default 0o755 for directories and 0o644 for files). */
  mode?: number;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad(n: number): Buffer {
  return Buffer.alloc((ALIGN - (n % ALIGN)) % ALIGN);
}

function record(ino: number, mode: number, name: string, data: Buffer): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
  const header = Buffer.from(NEWC_MAGIC + fields.map(hex8).join(''), 'ascii');
  return [header, nameBytes, pad(header.length + nameBytes.length), data, pad(data.length)];
}

/** The archive of `entries` (parent directories are not implied: list them first). */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const mode = e.data === undefined ? S_IFDIR | (e.mode ?? 0o755) : S_IFREG | (e.mode ?? 0o644);
    parts.push(...record(ino++, mode, e.path, e.data ?? Buffer.alloc(0)));
  }
  parts.push(...record(0, 0, 'TRAILER!!!', Buffer.alloc(0)));
  return Buffer.concat(parts);
}
