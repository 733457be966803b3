import { Command, Option } from 'commander';
import { writePrivateKeyFile } from '../keys/key-dir.js';
import { generateKey, KEY_TYPES, loadPublicKeyFile, type KeyType } from '../keys/keys.js';
import { parsePositiveInt } from './options.js';

export function keyCommand(): Command {
  const key = new Command('key').description('signing keys');
  key
    .command('gen')
    .description('generate a private key (PKCS#8 PEM, mode 0600); prints its key id')
    .addOption(new Option('--type <type>', 'key type').choices(KEY_TYPES).default('ed25519'))
    .option('--bits <n>', 'RSA modulus size (default 3072)', parsePositiveInt)
    .requiredOption('--out <file>', 'where to write the key')
    .action(async (opts: { type: KeyType; bits?: number; out: string }) => {
      const generated = await generateKey(opts.type, opts.bits === undefined ? {} : { bits: opts.bits });
      await writePrivateKeyFile(opts.out, generated.privatePem);
      process.stdout.write(`${generated.keyId}\n`);
    });
  key
    .command('id')
    .description('print the TUF key id of a PEM key (private or public)')
    .argument('<file>')
    .action(async (file: string) => {
      process.stdout.write(`${(await loadPublicKeyFile(file)).keyID}\n`);
    });
  return key;
}
