import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createUpdateFixture, IMAGE_SIZES, type ReleaseSpec, type UpdateFixture } from './update-fixture.js';

const MIB = 1024 * 1024;
const fixtures: UpdateFixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.close();
});

interface BadCase {
  name: string;
  release?: Partial<ReleaseSpec>;
  /** Damage the served repository after publishing. */
  damage?: (f: UpdateFixture) => void;
  error: RegExp;
}

const flip = (file: string, at: (size: number) => number): void => {
  const bytes = fs.readFileSync(file);
  const i = at(bytes.length);
  bytes[i] = bytes[i]! ^ 0xff;
  fs.writeFileSync(file, bytes);
};

const cases: BadCase[] = [
  {
    name: 'truncated download',
    damage: (f) => {
      const file = f.targetFile('1.1.0', 'root');
      fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
    },
    error: /root\.ext4\.lz4: download truncated: got \d+ of \d+ bytes/,
  },
  {
    name: 'wrong hash, same length (byte flipped early: LZ4 breaks first, the hash explains it)',
    damage: (f) => flip(f.targetFile('1.1.0', 'root'), () => 40),
    error: /root\.ext4\.lz4: sha256 mismatch: the signed metadata say [0-9a-f]{64}, the \d+ bytes downloaded hash to [0-9a-f]{64}/,
  },
  {
    name: 'wrong hash, same length (last byte flipped)',
    damage: (f) => flip(f.targetFile('1.1.0', 'boot'), (n) => n - 1),
    error: /boot\.ext4\.lz4: sha256 mismatch/,
  },
  {
    name: 'more bytes than signed',
    damage: (f) => fs.appendFileSync(f.targetFile('1.1.0', 'hash'), Buffer.alloc(10)),
    error: /root\.verity\.lz4: the server sent more than the \d+ bytes the signed metadata allow/,
  },
  {
    name: 'target missing on the server',
    damage: (f) => fs.rmSync(f.targetFile('1.1.0', 'hash')),
    error: /GET http:\/\/127\.0\.0\.1:\d+\/targets\/[0-9a-f]{64}\..*root\.verity\.lz4\?.*: HTTP 404/,
  },
  {
    name: 'corrupt LZ4 that is signed (content checksum wrong)',
    release: {
      rewrite: {
        root: (lz4) => {
          const out = Buffer.from(lz4);
          out[out.length - 1] = out[out.length - 1]! ^ 0xff;
          return out;
        },
      },
    },
    error: /root\.ext4\.lz4: corrupt LZ4 stream at byte \d+: content checksum mismatch/,
  },
  {
    name: 'image larger than its partition',
    release: { sizes: { root: 13 * MIB } },
    error: /the image does not fit BOTTLEROCKET-ROOT-B: it is larger than the partition's 12582912 bytes/,
  },
];

describe('updog update refuses bad input: clear error, inactive set unbootable, active set untouched', () => {
  it.each(cases)('$name', async (c) => {
    const f = await createUpdateFixture();
    fixtures.push(f);
    await f.publish([{ version: '1.1.0', ...c.release }]);
    c.damage?.(f);
    const activeBefore = (['root', 'boot', 'hash'] as const).map((p) => f.partitionHash('A', p));
    const r = await f.run(['update']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`\\nupdog: error: .*${c.error.source}.*\\n$`));
    const s = await f.status();
    expect(s.B).toMatchObject({ priority: 0, triesLeft: 0, successful: false, willBoot: false });
    expect(s.A).toMatchObject({ priority: 1, triesLeft: 0, successful: true });
    expect((['root', 'boot', 'hash'] as const).map((p) => f.partitionHash('A', p))).toEqual(activeBefore);
    expect(await f.boot()).toMatchObject({ set: 'A', version: '1.0.0' });
    // nothing applied, so there is nothing to apply
    expect((await f.run(['update-apply'])).code).toBe(2);
  });

  it('a corrupt GPT (both copies): clear error, nothing written', async () => {
    const f = await createUpdateFixture();
    fixtures.push(f);
    await f.publish([{ version: '1.1.0' }]);
    const size = fs.statSync(f.disk).size;
    const fd = fs.openSync(f.disk, 'r+');
    fs.writeSync(fd, Buffer.alloc(512), 0, 512, 512); // primary header
    fs.writeSync(fd, Buffer.alloc(512), 0, 512, size - 512); // backup header
    fs.closeSync(fd);
    const before = fs.readFileSync(f.disk);
    const r = await f.run(['update']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^updog: error: .*GPT.*\n$/);
    expect(fs.readFileSync(f.disk).equals(before)).toBe(true);
  });

  it('a good image still installs after a failed attempt', async () => {
    const f = await createUpdateFixture();
    fixtures.push(f);
    await f.publish([{ version: '1.1.0', sizes: { root: IMAGE_SIZES.root } }]);
    const file = f.targetFile('1.1.0', 'root');
    const good = fs.readFileSync(file);
    flip(file, (n) => n - 2);
    expect((await f.run(['update'])).code).toBe(1);
    fs.writeFileSync(file, good);
    expect((await f.run(['update'])).code).toBe(0);
    expect(await f.boot()).toMatchObject({ set: 'B', version: '1.1.0' });
  });
});
