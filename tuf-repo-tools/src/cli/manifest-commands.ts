import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { UserError } from '@updog-ts/updog/common';
import { parseManifest, serializeManifest, type Manifest } from '@updog-ts/updog/release';
import { exists, writeFileAtomic } from '../fs/files.js';
import { addUpdate, emptyManifest, loadReleaseToml, manifestProblems, removeUpdate, setMaxVersion, setMigrations, setWaves } from '../manifest/edit.js';
import { resolveWavePolicy, wavesFromPolicy } from '../manifest/wave-policy.js';
import { loadRepository } from '../tuf/load.js';
import { parseTime } from '../time/time.js';
import { printJson } from './options.js';

async function readManifest(path: string): Promise<Manifest> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new UserError(`cannot read manifest ${path}: ${err.message}`, { cause: err });
  });
  return parseManifest(text);
}

/** A manifest edit: read FILE, apply, write it back atomically. */
function editCommand<O>(name: string, description: string, build: (cmd: Command) => Command, edit: (m: Manifest, opts: O) => Promise<Manifest> | Manifest): Command {
  return build(new Command(name).description(description).argument('<manifest>', 'manifest.json file')).action(async (path: string, opts: O) => {
    writeFileAtomic(path, serializeManifest(await edit(await readManifest(path), opts)));
  });
}

function withUpdateKey(cmd: Command): Command {
  return cmd.requiredOption('--variant <variant>').requiredOption('--arch <arch>').requiredOption('--version <version>');
}

interface KeyOpts {
  variant: string;
  arch: string;
  version: string;
}

export function manifestCommand(): Command {
  const manifest = new Command('manifest').description('edit release manifests (manifest.json)');
  manifest
    .command('init')
    .description('write an empty manifest')
    .argument('<manifest>')
    .action(async (path: string) => {
      if (await exists(path)) throw new UserError(`${path} already exists`);
      writeFileAtomic(path, serializeManifest(emptyManifest()));
    });
  manifest.addCommand(
    editCommand(
      'add-update',
      'add or replace an update (max_version is shared by the variant+arch)',
      (c) =>
        withUpdateKey(c)
          .option('--max-version <version>')
          .requiredOption('--boot <target>', 'boot image target name')
          .requiredOption('--root <target>', 'root image target name')
          .requiredOption('--hash <target>', 'hash (verity) image target name'),
      (m, o: KeyOpts & { maxVersion?: string; boot: string; root: string; hash: string }) =>
        addUpdate(m, o, { boot: o.boot, root: o.root, hash: o.hash }, o.maxVersion === undefined ? {} : { maxVersion: o.maxVersion }),
    ),
  );
  manifest.addCommand(editCommand('remove-update', 'remove an update', withUpdateKey, (m, o: KeyOpts) => removeUpdate(m, o)));
  manifest.addCommand(
    editCommand(
      'set-waves',
      'set the waves of an update from a wave policy',
      (c) =>
        withUpdateKey(c)
          .requiredOption('--wave-file <file>', 'wave policy TOML, or a shipped policy: default, accelerated, slow')
          .option('--start-at <time>', 'rollout start: RFC 3339 or relative (default: now)'),
      async (m, o: KeyOpts & { waveFile: string; startAt?: string }) =>
        setWaves(m, o, wavesFromPolicy(await resolveWavePolicy(o.waveFile), o.startAt ? parseTime(o.startAt) : new Date())),
    ),
  );
  manifest.addCommand(
    editCommand(
      'set-max-version',
      'set max_version for every update of a variant+arch',
      (c) => c.requiredOption('--variant <variant>').requiredOption('--arch <arch>').requiredOption('--max-version <version>'),
      (m, o: { variant: string; arch: string; maxVersion: string }) => setMaxVersion(m, o.variant, o.arch, o.maxVersion),
    ),
  );
  manifest.addCommand(
    editCommand(
      'set-migrations',
      'replace the migrations with those of a Release.toml ([migrations] "(FROM, TO)" = [targets])',
      (c) => c.requiredOption('--from <release-toml>'),
      async (m, o: { from: string }) => setMigrations(m, (await loadReleaseToml(o.from)).migrations),
    ),
  );
  manifest
    .command('validate')
    .description('check a manifest (and, with --repo, that its targets are in the repository)')
    .argument('<manifest>')
    .option('--repo <dir>', 'repository whose targets the manifest must name')
    .action(async (path: string, opts: { repo?: string }) => {
      const m = await readManifest(path);
      const names = opts.repo ? new Set(Object.keys((await loadRepository(opts.repo)).targets.signed.targets)) : undefined;
      const problems = manifestProblems(m, names);
      if (problems.length > 0) throw new UserError(`${path}:\n  ${problems.join('\n  ')}`);
      printJson({ manifest: path, updates: m.updates.length, migrations: m.migrations.length });
    });
  return manifest;
}
