import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/common/durable-file.js';
import { tempDir, type TempDir } from '../helpers/temp-dir.js';

describe('writeFileAtomic', () => {
  let dir: TempDir;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.cleanup());

  it('creates the directory, writes with the mode, replaces an old file and leaves no temp file', () => {
    const file = join(dir.path, 'sub', 'status.json');
    writeFileAtomic(file, 'first\n', 0o600);
    expect(readFileSync(file, 'utf8')).toBe('first\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    writeFileAtomic(file, Buffer.from('second\n'));
    expect(readFileSync(file, 'utf8')).toBe('second\n');
    expect(readdirSync(join(dir.path, 'sub'))).toEqual(['status.json']);
  });

  it('keeps the old file and removes its temp file when the rename fails', () => {
    const target = join(dir.path, 'target');
    mkdirSync(target); // renaming a file over a directory fails (EISDIR)
    writeFileSync(join(target, 'inside'), 'old');
    expect(() => writeFileAtomic(target, 'new')).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(readdirSync(dir.path)).toEqual(['target']);
    expect(readFileSync(join(target, 'inside'), 'utf8')).toBe('old');
  });

  it('removes temp files of the same file left by dead writers, not those of live ones or of other files', () => {
    const file = join(dir.path, 'timestamp.json');
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // exited, so no such process now
    writeFileSync(join(dir.path, `.timestamp.json.tmp-${dead}-0badc0de`), 'torn');
    writeFileSync(join(dir.path, `.timestamp.json.tmp-${process.pid}-0a0a0a0a`), 'a live writer');
    writeFileSync(join(dir.path, `.snapshot.json.tmp-${dead}-0badc0de`), 'another file');
    writeFileAtomic(file, 'new');
    expect(readdirSync(dir.path).sort()).toEqual([`.snapshot.json.tmp-${dead}-0badc0de`, `.timestamp.json.tmp-${process.pid}-0a0a0a0a`, 'timestamp.json']);
  });
});
