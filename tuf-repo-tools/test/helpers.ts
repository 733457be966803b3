/** Shared test helpers: temp dirs, the compiled tuf-repo bin, and two independent TUF clients. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Updater } from 'tuf-js';
import { afterEach } from 'vitest';

const run = promisify(execFile);
export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const TUF_REPO_BIN = join(REPO_ROOT, 'tuf-repo-tools/dist/cli/tuf-repo.js');
const PYTHON_CLIENT = join(import.meta.dirname, 'interop/python_client.py');

/** A fresh temp dir, removed after the current test. */
export function useTempDirs(): () => Promise<string> {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tuf-repo-test-'));
    dirs.push(dir);
    return dir;
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the compiled `tuf-repo` bin (build first: `npx tsc -p tsconfig.json`). */
export async function tufRepo(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [TUF_REPO_BIN, '--log-level', 'warn', ...args], { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Like tufRepo but fails the test on a non-zero exit. */
export async function tufRepoOk(...args: string[]): Promise<string> {
  const r = await tufRepo(...args);
  if (r.code !== 0) throw new Error(`tuf-repo ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

export interface ClientResult {
  rootVersion: number;
  targetsVersion: number;
  /** Target name -> sha256 of the downloaded bytes. */
  downloaded: Record<string, string>;
}

/** python-tuf ngclient: refresh from `cacheDir` (seeded with `trustedRoot`) and download `names`. */
export async function pythonClient(baseUrl: string, trustedRoot: string, cacheDir: string, names: string[]): Promise<ClientResult> {
  const { stdout } = await run('python3', [PYTHON_CLIENT, `${baseUrl}metadata/`, `${baseUrl}targets/`, trustedRoot, cacheDir, join(cacheDir, '..', 'py-downloads'), ...names]);
  const out = JSON.parse(stdout) as { root_version: number; targets_version: number; downloaded: Record<string, string> };
  return { rootVersion: out.root_version, targetsVersion: out.targets_version, downloaded: out.downloaded };
}

/** tuf-js: the same, with one Updater per refresh as updog uses it. */
export async function tufJsClient(baseUrl: string, trustedRoot: string, cacheDir: string, names: string[]): Promise<ClientResult> {
  await mkdir(cacheDir, { recursive: true });
  const rootCopy = join(cacheDir, 'root.json');
  await readFile(rootCopy).catch(() => copyFile(trustedRoot, rootCopy));
  const targetDir = join(cacheDir, '..', 'js-downloads');
  await mkdir(targetDir, { recursive: true });
  const updater = new Updater({ metadataDir: cacheDir, metadataBaseUrl: `${baseUrl}metadata`, targetDir, targetBaseUrl: `${baseUrl}targets` });
  await updater.refresh();
  const downloaded: Record<string, string> = {};
  for (const name of names) {
    const info = await updater.getTargetInfo(name);
    if (!info) throw new Error(`tuf-js: target ${name} not found`);
    const path = await updater.downloadTarget(info, join(targetDir, name.replaceAll('/', '_')));
    downloaded[name] = createHash('sha256').update(await readFile(path)).digest('hex');
  }
  const cached = JSON.parse(await readFile(rootCopy, 'utf8')) as { signed: { version: number } };
  const targets = JSON.parse(await readFile(join(cacheDir, 'targets.json'), 'utf8')) as { signed: { version: number } };
  return { rootVersion: cached.signed.version, targetsVersion: targets.signed.version, downloaded };
}
