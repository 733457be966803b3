import { Command } from 'commander';
import type { Metadata, Root } from '@tufjs/models';
import { UserError } from '@updog-ts/updog/common';
import { loadPublicKeyFile } from '../keys/keys.js';
import { loadRootFile } from '../tuf/load.js';
import { listedKeyId } from '../tuf/signing.js';
import { DEFAULT_LIFETIME_MS } from '../tuf/repository.js';
import {
  addRootKey,
  initRoot,
  parseRole,
  removeRootKey,
  setRootExpires,
  setRootThreshold,
  setRootVersion,
  signRoot,
  unsatisfiableRoles,
  writeRootFile,
} from '../tuf/root.js';
import { exists } from '../fs/files.js';
import { parseTime } from '../time/time.js';
import { addKeyOptions, collect, loggerOf, parsePositiveInt, signersFrom } from './options.js';

/** A root edit: read ROOT, change it (dropping signatures), write it back atomically. */
function editCommand(name: string, description: string, build: (cmd: Command) => Command, edit: (root: Metadata<Root>, ...args: never[]) => Promise<Metadata<Root>> | Metadata<Root>): Command {
  return build(new Command(name).description(description).argument('<root>', 'root.json file')).action(async (path: string, ...rest: unknown[]) => {
    const cmd = rest[rest.length - 1] as Command;
    const root = await loadRootFile(path);
    const edited = await edit(root, ...(rest.slice(0, -1) as never[]));
    await writeRootFile(path, edited);
    loggerOf(cmd).info({ root: path, version: edited.signed.version }, `${name}: root updated (signatures cleared; sign it again)`);
  });
}

export function rootCommand(): Command {
  const root = new Command('root').description('create and edit root metadata (each command rewrites the file atomically)');
  root
    .command('init')
    .description('write a new version-1 root with the four top-level roles, no keys, threshold 1')
    .argument('<root>', 'root.json file to create')
    .option('--expires <time>', 'expiry: RFC 3339 or relative', 'in 52 weeks')
    .action(async (path: string, opts: { expires: string }) => {
      if (await exists(path)) throw new UserError(`${path} already exists`);
      await writeRootFile(path, initRoot(parseTime(opts.expires)));
    });
  root.addCommand(
    editCommand(
      'add-key',
      'add a key (PEM, private or public) to one or more roles',
      (c) => c.requiredOption('--key <file>', 'PEM key file').requiredOption('--role <role>', 'role (repeatable)', collect, []),
      async (md, opts: { key: string; role: string[] }) => {
        const key = await loadPublicKeyFile(opts.key);
        let out = md;
        for (const role of opts.role) out = addRootKey(out, key, parseRole(role));
        // the id the root lists: a key already there keeps its id
        process.stdout.write(`${listedKeyId(out.signed, key) ?? key.keyID}\n`);
        return out;
      },
    ),
  );
  root.addCommand(
    editCommand(
      'remove-key',
      'remove a key id from a role (default: from every role)',
      (c) => c.argument('<keyid>').option('--role <role>', 'only this role'),
      (md, keyId: string, opts: { role?: string }) => removeRootKey(md, keyId, opts.role === undefined ? undefined : parseRole(opts.role)),
    ),
  );
  root.addCommand(
    editCommand(
      'set-threshold',
      "set a role's signature threshold",
      (c) => c.argument('<role>').argument('<threshold>', 'positive integer', parsePositiveInt),
      (md, role: string, threshold: number) => setRootThreshold(md, parseRole(role), threshold),
    ),
  );
  root.addCommand(
    editCommand(
      'expire',
      'set the expiry (RFC 3339 or relative, e.g. "in 52 weeks")',
      (c) => c.argument('<time>'),
      (md, time: string) => setRootExpires(md, parseTime(time)),
    ),
  );
  root.addCommand(
    editCommand('set-version', 'set the version', (c) => c.argument('<version>', 'positive integer', parsePositiveInt), (md, version: number) =>
      setRootVersion(md, version),
    ),
  );
  root.addCommand(
    editCommand('bump-version', 'increment the version (and push the expiry out by a year)', (c) => c, (md) =>
      setRootExpires(setRootVersion(md, md.signed.version + 1), new Date(Date.now() + DEFAULT_LIFETIME_MS.root)),
    ),
  );
  addKeyOptions(
    root
      .command('sign')
      .description('sign with the given keys; refuses to write a root below its threshold unless --allow-below-threshold')
      .argument('<root>', 'root.json file')
      .option('--cross-sign <old-root>', 'previous root version: its root keys sign too and its threshold must be met (rotation)')
      .option('--allow-below-threshold', 'write even if thresholds are not met yet (collect more signatures later)'),
  ).action(async (path: string, opts: { key: string[]; keysDir?: string; crossSign?: string; allowBelowThreshold?: boolean }, cmd: Command) => {
    const md = await loadRootFile(path);
    const unusable = unsatisfiableRoles(md);
    if (unusable.length > 0) throw new UserError(`role(s) ${unusable.join(', ')} have fewer keys than their threshold`);
    const signed = await signRoot(md, await signersFrom(opts), {
      ...(opts.crossSign ? { crossSign: await loadRootFile(opts.crossSign) } : {}),
      allowBelowThreshold: opts.allowBelowThreshold ?? false,
    });
    await writeRootFile(path, md);
    loggerOf(cmd).info({ root: path, signedBy: signed }, 'root signed');
  });
  return root;
}
