import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Metadata, Targets } from '@tufjs/models';
import { describe, expect, it } from 'vitest';
import { computeKeyId, generateKey, KeyError, parsePrivateKeyPem, tufPublicKey } from '../src/keys/keys.js';
import { addSignatures } from '../src/tuf/signing.js';
import { tufRepo, tufRepoOk, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const run = promisify(execFile);

function sampleMetadata(): Metadata<Targets> {
  return new Metadata(new Targets({ version: 1, specVersion: '1.0.31', expires: '2030-01-01T00:00:00Z' }));
}

describe('keys', () => {
  it.each(['ed25519', 'ecdsa', 'rsa'] as const)('%s: key id is sha256 of canonical {keytype, scheme, keyval}; signatures verify', async (type) => {
    const key = await generateKey(type, { bits: 2048 });
    const pub = key.publicKey;
    expect(pub.keyType).toBe(type);
    expect(pub.scheme).toBe({ ed25519: 'ed25519', ecdsa: 'ecdsa-sha2-nistp256', rsa: 'rsassa-pss-sha256' }[type]);
    expect(key.keyId).toBe(computeKeyId(pub.keyType, pub.scheme, pub.keyVal));
    expect(key.keyId).toMatch(/^[0-9a-f]{64}$/);
    if (type === 'ed25519') expect(pub.keyVal.public).toMatch(/^[0-9a-f]{64}$/);
    else expect(pub.keyVal.public).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const md = sampleMetadata();
    await addSignatures(md, [parsePrivateKeyPem(key.privatePem)]);
    expect(() => pub.verifySignature(md)).not.toThrow();
    md.signatures[key.keyId] = { ...md.signatures[key.keyId]!, sig: '00'.repeat(64) } as never;
    expect(() => pub.verifySignature(md)).toThrow();
  });

  it('key ids are sha256 of the canonical JSON text (sorted keys, no spaces)', () => {
    const canonical = `{"keytype":"ed25519","keyval":{"public":"${'0'.repeat(64)}"},"scheme":"ed25519"}`;
    expect(computeKeyId('ed25519', 'ed25519', { public: '0'.repeat(64) })).toBe(createHash('sha256').update(canonical).digest('hex'));
  });

  it('loads PKCS#1 RSA and SEC1 EC keys written by openssl, with the same key id as their PKCS#8 form', async () => {
    const dir = await tempDir();
    const rsa = join(dir, 'rsa.pem');
    const ec = join(dir, 'ec.pem');
    await run('openssl', ['genrsa', '-traditional', '-out', rsa, '2048']);
    await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', ec]);
    for (const [path, header] of [[rsa, 'BEGIN RSA PRIVATE KEY'], [ec, 'BEGIN EC PRIVATE KEY']] as const) {
      const pem = await readFile(path, 'utf8');
      expect(pem).toContain(header);
      const pkcs8 = createPrivateKey(pem).export({ format: 'pem', type: 'pkcs8' }) as string;
      expect(parsePrivateKeyPem(pem).keyId).toBe(parsePrivateKeyPem(pkcs8).keyId);
      expect((await tufRepoOk('key', 'id', path)).trim()).toBe(parsePrivateKeyPem(pem).keyId);
    }
    expect(tufPublicKey(createPrivateKey(await readFile(ec, 'utf8'))).keyType).toBe('ecdsa');
  });

  it('gives clear errors for malformed or unsupported keys', async () => {
    expect(() => parsePrivateKeyPem('hello', 'k.pem')).toThrow(new KeyError('k.pem: not a PEM private key (expected "-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----")'));
    expect(() => parsePrivateKeyPem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'k.pem')).toThrow(/^k\.pem: malformed PEM private key: /);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    expect(() => parsePrivateKeyPem(p384, 'p384.pem')).toThrow('p384.pem: EC key on curve secp384r1; only P-256 is supported');
    await expect(generateKey('rsa', { bits: 1024 })).rejects.toThrow('RSA keys need at least 2048 bits (got 1024)');

    const dir = await tempDir();
    await writeFile(join(dir, 'bad.pem'), 'not a key');
    const r = await tufRepo('key', 'id', join(dir, 'bad.pem'));
    expect(r.code).toBe(1);
    expect(r.stderr.startsWith(`tuf-repo: error: ${join(dir, 'bad.pem')}: malformed PEM key: `)).toBe(true);
  });

  it('key gen writes a PKCS#8 PEM with mode 0600 and prints its key id', async () => {
    const dir = await tempDir();
    const out = join(dir, 'k.pem');
    const id = (await tufRepoOk('key', 'gen', '--type', 'ecdsa', '--out', out)).trim();
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const pem = await readFile(out, 'utf8');
    expect(pem.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
    expect(parsePrivateKeyPem(pem).keyId).toBe(id);
    expect((await tufRepo('key', 'gen', '--type', 'dsa', '--out', out)).code).toBe(64);
  });
});
