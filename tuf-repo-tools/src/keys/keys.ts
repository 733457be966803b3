/**
 * TUF signing keys: generation, PEM loading, public key form and key ids (DESIGN.md 6).
 *
 * A `Signer` is the small interface every key source implements, so a KMS-backed signer can be
 * added later without touching the repository code (signing is async for that reason).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, sign, constants, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { canonicalize } from '@tufjs/canonical-json';
import { Key } from '@tufjs/models';
import { UserError } from '@updog-ts/updog/common';

export type KeyType = 'ed25519' | 'ecdsa' | 'rsa';
export const KEY_TYPES: readonly KeyType[] = ['ed25519', 'ecdsa', 'rsa'];

const SCHEMES: Record<KeyType, string> = {
  ed25519: 'ed25519',
  ecdsa: 'ecdsa-sha2-nistp256',
  rsa: 'rsassa-pss-sha256',
};

/** Anything that can sign TUF metadata with one key. */
export interface Signer {
  readonly keyId: string;
  /** The public key as it appears in root.json. */
  readonly publicKey: Key;
  /** Signs the canonical bytes of a `signed` object; returns the hex signature. */
  sign(data: Buffer): Promise<string>;
}

export interface GeneratedKey {
  /** PKCS#8 PEM private key. */
  privatePem: string;
  publicKey: Key;
  keyId: string;
}

export class KeyError extends UserError {}

/** Key id: sha256 of the canonical JSON of `{keytype, scheme, keyval}`. */
export function computeKeyId(keyType: string, scheme: string, keyVal: Record<string, string>): string {
  const canonical = canonicalize({ keytype: keyType, scheme, keyval: keyVal });
  return createHash('sha256').update(canonical).digest('hex');
}

function keyTypeOf(key: KeyObject, source: string): KeyType {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return 'ed25519';
    case 'ec':
      if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new KeyError(`${source}: EC key on curve ${key.asymmetricKeyDetails?.namedCurve ?? '?'}; only P-256 is supported`);
      }
      return 'ecdsa';
    case 'rsa':
      return 'rsa';
    default:
      throw new KeyError(`${source}: unsupported key type ${key.asymmetricKeyType ?? '?'} (use ed25519, ecdsa P-256 or rsa)`);
  }
}

/** The TUF public key (with its key id) of a private or public key object. */
export function tufPublicKey(key: KeyObject, source = 'key'): Key {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const keyType = keyTypeOf(pub, source);
  // ed25519 keys are hex of the raw 32 bytes (the form python-tuf and tough write); others SPKI PEM.
  const publicValue =
    keyType === 'ed25519'
      ? (pub.export({ format: 'der', type: 'spki' }) as Buffer).subarray(-32).toString('hex')
      : (pub.export({ format: 'pem', type: 'spki' }) as string);
  const keyVal = { public: publicValue };
  const scheme = SCHEMES[keyType];
  return new Key({ keyID: computeKeyId(keyType, scheme, keyVal), keyType, scheme, keyVal });
}

/**
 * What a TUF key is, whatever its spelling: the raw public bytes for ed25519 (hex or PEM), the
 * SPKI DER otherwise. Tools differ in how they spell the same key (tuftool and tough write PEMs
 * without the trailing newline), and the key id covers the spelling, so keys are matched by this.
 * Undefined when the key's public value cannot be read.
 */
export function keyMaterial(key: Key): string | undefined {
  const value = key.keyVal.public;
  if (value === undefined) return undefined;
  if (/^[0-9a-f]{64}$/i.test(value)) return `ed25519:${value.toLowerCase()}`;
  try {
    const pub = createPublicKey(value);
    const der = pub.export({ format: 'der', type: 'spki' }) as Buffer;
    return pub.asymmetricKeyType === 'ed25519' ? `ed25519:${der.subarray(-32).toString('hex')}` : `spki:${der.toString('hex')}`;
  } catch {
    return undefined;
  }
}

/** Signs with a private key held in memory. */
export class LocalKeySigner implements Signer {
  readonly publicKey: Key;
  private readonly type: KeyType;
  constructor(private readonly privateKey: KeyObject, source = 'key') {
    this.publicKey = tufPublicKey(privateKey, source);
    this.type = this.publicKey.keyType as KeyType;
  }
  get keyId(): string {
    return this.publicKey.keyID;
  }
  async sign(data: Buffer): Promise<string> {
    switch (this.type) {
      case 'ed25519':
        return sign(null, data, this.privateKey).toString('hex');
      case 'ecdsa':
        // DER-encoded ECDSA signature, as securesystemslib and tuf-js expect.
        return sign('sha256', data, this.privateKey).toString('hex');
      case 'rsa':
        return sign('sha256', data, {
          key: this.privateKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
        }).toString('hex');
    }
  }
}

/** Parses a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC). `source` names it in errors. */
export function parsePrivateKeyPem(pem: string, source = 'key'): LocalKeySigner {
  if (!pem.includes('PRIVATE KEY-----')) {
    throw new KeyError(`${source}: not a PEM private key (expected "-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----")`);
  }
  if (pem.includes('ENCRYPTED PRIVATE KEY')) throw new KeyError(`${source}: encrypted private keys are not supported`);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new KeyError(`${source}: malformed PEM private key: ${(err as Error).message}`, { cause: err });
  }
  return new LocalKeySigner(key, source);
}

export async function loadPrivateKeyFile(path: string): Promise<LocalKeySigner> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new KeyError(`cannot read key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parsePrivateKeyPem(pem, path);
}

/** Reads a public TUF key from a PEM file holding either a private or a public key. */
export async function loadPublicKeyFile(path: string): Promise<Key> {
  const pem = await readFile(path, 'utf8').catch((err: Error) => {
    throw new KeyError(`cannot read key file ${path}: ${err.message}`, { cause: err });
  });
  if (pem.includes('PRIVATE KEY-----')) return parsePrivateKeyPem(pem, path).publicKey;
  try {
    return tufPublicKey(createPublicKey(pem), path);
  } catch (err) {
    if (err instanceof KeyError) throw err;
    throw new KeyError(`${path}: malformed PEM key: ${(err as Error).message}`, { cause: err });
  }
}

const generate = promisify(generateKeyPair);

export async function generateKey(type: KeyType, opts: { bits?: number } = {}): Promise<GeneratedKey> {
  let privateKey: KeyObject;
  switch (type) {
    case 'ed25519':
      ({ privateKey } = await generate('ed25519'));
      break;
    case 'ecdsa':
      ({ privateKey } = await generate('ec', { namedCurve: 'prime256v1' }));
      break;
    case 'rsa': {
      const bits = opts.bits ?? 3072;
      if (!Number.isInteger(bits) || bits < 2048) throw new KeyError(`RSA keys need at least 2048 bits (got ${bits})`);
      ({ privateKey } = await generate('rsa', { modulusLength: bits }));
      break;
    }
    default:
      throw new KeyError(`unknown key type "${String(type)}" (use ${KEY_TYPES.join(', ')})`);
  }
  const privatePem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const publicKey = tufPublicKey(privateKey);
  return { privatePem, publicKey, keyId: publicKey.keyID };
}
