#!/usr/bin/env node
/**
 * `npm run demo`: the whole update story on one simulated host, with the real CLIs, no root and no
 * cluster. Release engineering (keys, images, signed repository), discovery with waves, a streamed
 * install onto the inactive partition set, a simulated reboot into the new version, and a bad
 * release that never passes its health check and falls back to the good set on the next boot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createSimulatedHostFiles } from '../test/cluster/sim-host.js';
import { run, say, step, type Bin } from './narrate.js';

/** The repository root, from dist/demo/ (compiled) where the demo runs. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const updog: Bin = { name: 'updog', path: join(ROOT, 'updog/dist/cli/updog.js') };
const signpost: Bin = { name: 'signpost', path: join(ROOT, 'updog/dist/cli/signpost.js') };
const tufRepo: Bin = { name: 'tuf-repo', path: join(ROOT, 'tuf-repo-tools/dist/cli/tuf-repo.js') };

const VARIANT = 'aws-k8s-1.31';
const ARCH = 'x86_64';
/** A host late in the rollout: seed 1500 is in the wave that starts five days after release. */
const SEED = 1500;
/** Big enough for the progress display to be seen, small enough to keep the demo quick. */
const ROOT_IMAGE_SIZE = 64 * 1024 * 1024;

interface BootReport {
  set: 'A' | 'B';
  version?: string;
  bad?: boolean;
}

/** Starts `tuf-repo serve` and resolves with the URL it prints. */
async function serve(dir: string, env: NodeJS.ProcessEnv): Promise<{ url: string; server: ChildProcess }> {
  say(`$ tuf-repo serve ${dir}  (in the background)`);
  const server = spawn(process.execPath, [tufRepo.path, 'serve', dir, '--port', '0', '--log-level', 'warn'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const firstLine = await new Promise<string>((ok, fail) => {
    server.once('error', fail);
    server.once('exit', (code) => fail(new Error(`tuf-repo serve exited ${code} before printing its URL`)));
    createInterface({ input: server.stdout! }).once('line', ok);
  });
  say(firstLine);
  return { url: firstLine.trim().replace(/\/$/, ''), server };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'updog-demo-'));
  say(`Demo working directory: ${work}`);
  const env: NodeJS.ProcessEnv = { ...process.env, UPDOG_LOG_LEVEL: process.env.UPDOG_LOG_LEVEL ?? 'warn' };
  const repo = join(work, 'repo');
  const keys = join(work, 'keys');
  const booted: string[] = [];
  let server: ChildProcess | undefined;
  try {
    step(1, 'Release engineering', 'Fake OS images for three releases (1.1.0 good, 1.2.0 bad: it boots but fails its health check), packed as LZ4 targets and published in one signed TUF repository. 1.0.0 is what the host runs today.');
    const release = async (version: string, opts: { bad?: boolean; wavePolicy: string }): Promise<void> => {
      const out = join(work, 'images', version);
      const made = await run(tufRepo, ['image', 'fake', '--variant', VARIANT, '--arch', ARCH, '--version', version, ...(opts.bad ? ['--bad'] : []),
        '--root-size', String(ROOT_IMAGE_SIZE), '--out-dir', out], env, { quiet: true });
      const images = JSON.parse(made.stdout) as { boot: string; root: string; hash: string };
      const published = await run(tufRepo, ['release', '--out', repo, '--keys-dir', keys, '--variant', VARIANT, '--arch', ARCH, '--version', version,
        '--boot', images.boot, '--root', images.root, '--hash', images.hash, '--wave-policy', opts.wavePolicy, '--log-level', 'warn'], env, { quiet: true });
      const { versions, images: targets } = JSON.parse(published.stdout) as { versions: Record<string, number>; images: Record<string, string> };
      say(`   targets: ${Object.values(targets).join('\n            ')}`);
      say(`   signed:  ${Object.entries(versions).map(([role, v]) => `${v}.${role}.json`).join(', ')}`);
    };
    await release('1.0.0', { wavePolicy: 'default' });
    await release('1.1.0', { wavePolicy: 'default' });

    const served = await serve(repo, env);
    server = served.server;

    step(2, 'A host running 1.0.0', `A disk image with the Bottlerocket A/B layout (set A holds 1.0.0), os-release, updog.toml with seed ${SEED}, and the repository's root.json as trust anchor.`);
    const host = await createSimulatedHostFiles(join(work, 'host'), {
      version: '1.0.0', variant: VARIANT, arch: ARCH, seed: SEED, rootSize: 2 * ROOT_IMAGE_SIZE,
      metadataBaseUrl: `${served.url}/metadata`, targetsBaseUrl: `${served.url}/targets`,
    });
    const rootJson = join(host.dir, 'root.json');
    copyFileSync(join(repo, 'metadata', '1.root.json'), rootJson);
    Object.assign(env, {
      UPDOG_CONFIG: host.updogConfig,
      UPDOG_OS_RELEASE: host.osRelease,
      UPDOG_ROOT_JSON: rootJson,
      UPDOG_METADATA_CACHE: join(host.dir, 'metadata-cache'),
      UPDOG_MIGRATIONS_DIR: join(host.dir, 'bottlerocket-migrations'),
      UPDOG_MIGRATOR_METADATA_DIR: join(host.dir, 'bottlerocket-metadata'),
      UPDOG_DISK: host.diskImage,
      UPDOG_ACTIVE_SET_FILE: host.activeSetFile,
      UPDOG_LOCK_FILE: join(host.dir, 'updog.lock'),
    });
    await run(signpost, ['status'], env);

    step(3, 'Is there an update? Waves say: not yet', `1.1.0 rolls out in waves. Seed ${SEED} lands in the wave that opens five days after the release, spread by its position in the wave.`);
    await run(updog, ['check-update'], env, { expect: [2] });
    say('Every update for this host, with the time its wave makes it ready (readyAt):');
    await run(updog, ['check-update', '--all', '--json', '--ignore-waves'], env);
    say('An operator who needs it now can skip the waves:');
    await run(updog, ['check-update', '--ignore-waves'], env);

    step(4, 'Install 1.1.0 onto the inactive set', 'updog verifies the TUF metadata, streams each image (sha256 and length checked, LZ4 decoded on the fly) straight onto set B, then flips the GPT priority bits.');
    await run(updog, ['update', '--ignore-waves'], env);
    await run(signpost, ['status'], env);

    const reboot = async (): Promise<BootReport> => {
      const result = await run(signpost, ['simulate-boot', '--json', '--record-active-set', host.activeSetFile, '--os-release', host.osRelease], env);
      const report = JSON.parse(result.stdout) as BootReport;
      booted.push(report.version ?? '?');
      say(`-> the bootloader picked set ${report.set}: Bottlerocket ${report.version}`);
      return report;
    };

    step(5, 'Reboot', 'The bootloader model (GRUB gptprio) picks the highest-priority bootable set and spends one of its tries.');
    await reboot();
    say('The new version is healthy, so the host marks the boot successful: set B is now permanent.');
    await run(signpost, ['mark-successful-boot'], env);
    await run(signpost, ['status'], env);
    await run(updog, ['check-update', '--ignore-waves'], env, { expect: [2] });

    step(6, 'A bad release', '1.2.0 installs fine but fails its health check after boot, so nobody marks the boot successful.');
    await release('1.2.0', { bad: true, wavePolicy: 'accelerated' });
    await run(updog, ['update', '--ignore-waves'], env);
    const bad = await reboot();
    say(bad.bad ? 'Health check failed: 1.2.0 is broken. The boot is NOT marked successful.' : 'Unexpected: 1.2.0 reported healthy.');
    say('The next boot (a watchdog, a person, or a crash) needs no help from updog:');
    const fallback = await reboot();
    await run(signpost, ['status'], env);

    const rolledBack = bad.version === '1.2.0' && fallback.version === '1.1.0';
    const summary = { workDir: work, booted, rolledBack };
    writeFileSync(join(work, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    step(7, 'Summary', `Boots, in order: ${booted.join(' -> ')}.`);
    say(rolledBack ? 'The bad release fell back to 1.1.0 on its own: the host never lost a working OS.' : 'Rollback did NOT happen as expected.');
    say(`Poke around: ${work} (repo/, keys/, host/disk.img), e.g.\n  UPDOG_DISK=${host.diskImage} UPDOG_ACTIVE_SET_FILE=${host.activeSetFile} npx signpost status`);
    if (!rolledBack) process.exitCode = 1;
  } finally {
    server?.kill('SIGTERM');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
