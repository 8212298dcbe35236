import { createHash, randomBytes } from 'node:crypto';
import { PAGE_SIZE } from '@mmsim/core';
import { describe, expect, it } from 'vitest';
import { PageDigester } from '../src/digest.ts';
import { DIGEST_BYTES } from '../src/format.ts';

const BUFFER_PAGES = 8;
const ROUNDS = 5;

describe('PageDigester', () => {
  it('digests the pages of both buffers in turn, as SHA-256 of each page', () => {
    const d = new PageDigester(BUFFER_PAGES);
    try {
      const want: Buffer[][] = [[], []];
      for (let r = 0; r < ROUNDS; r++) {
        const b = r % 2;
        d.wait(b);
        if (r >= 2) {
          // the digests of what was submitted two rounds ago
          for (let i = 0; i < want[b].length; i++) {
            const k = b * BUFFER_PAGES + i;
            expect(Buffer.from(d.digests.subarray(k * DIGEST_BYTES, (k + 1) * DIGEST_BYTES))).toEqual(
              want[b][i].subarray(0, DIGEST_BYTES),
            );
          }
        }
        const n = 1 + (r % BUFFER_PAGES);
        want[b] = [];
        for (let i = 0; i < n; i++) {
          const page = randomBytes(PAGE_SIZE);
          d.bytes.set(page, (b * BUFFER_PAGES + i) * PAGE_SIZE);
          want[b].push(createHash('sha256').update(page).digest());
        }
        d.submit(b, n);
      }
      d.wait(0);
      d.wait(1);
      const b = (ROUNDS - 1) % 2;
      const k = b * BUFFER_PAGES;
      expect(Buffer.from(d.digests.subarray(k * DIGEST_BYTES, (k + 1) * DIGEST_BYTES))).toEqual(
        want[b][0].subarray(0, DIGEST_BYTES),
      );
    } finally {
      d.close();
    }
  });
});
