import { canonicalize } from '@tufjs/canonical-json';
import { Key, Metadata, MetaFile, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { serializeManifest, type Manifest } from '../../src/manifest/manifest.js';

/**
 * A signed TUF repository for tests, written with @tufjs/models the way this project's
 * repositories look (DESIGN.md 6): consistent snapshots, `N.root.json`, `N.targets.json`,
 * `N.snapshot.json`, `timestamp.json`, targets as `targets/<sha256>.<name>`. One ed25519 key
 * signs every role; calling writeRoot() again rotates it. Serve `dir` with startStaticServer:
 * metadata under `/metadata/`, targets under `/targets/`.
 */
export interface RepoContent {
  manifest?: Manifest | string;
  targets?: Record<string, Buffer>;
  /** Per-role expiry; default one year from now. */
  expires?: Partial<Record<'root' | 'targets' | 'snapshot' | 'timestamp', Date>>;
}

const SPEC_VERSION = '1.0.31';
const YEAR_MS = 365 * 24 * 3_600_000;

export function tufExpires(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

interface Signer {
  key: Key;
  sign(bytes: Buffer): Signature;
}

function newSigner(): Signer {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url').toString('hex');
  const keyFields = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: raw } };
  const key = new Key({ keyID: sha256(canonicalize(keyFields)), keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: raw } });
  return { key, sign: (bytes) => new Signature({ keyID: key.keyID, sig: sign(null, bytes, privateKey).toString('hex') }) };
}

export class TestRepository {
  readonly metadataDir: string;
  readonly targetsDir: string;
  /** The trusted root to give a client (version 1). */
  readonly rootJsonPath: string;
  /** Version of the newest targets/snapshot/timestamp written by publish(). */
  version = 0;
  rootVersion = 0;
  private signer = newSigner();
  private targets: Record<string, TargetFile> = {};

  constructor(readonly dir: string) {
    this.metadataDir = join(dir, 'metadata');
    this.targetsDir = join(dir, 'targets');
    mkdirSync(this.metadataDir, { recursive: true });
    mkdirSync(this.targetsDir, { recursive: true });
    this.rootJsonPath = join(this.metadataDir, '1.root.json');
  }

  /**
   * Writes the next root version with a fresh key for every role, signed by the old and the new
   * key (a client can walk from the previous root). publish() afterwards signs with the new key.
   */
  writeRoot(expires: Date): void {
    const previous = this.signer;
    if (this.rootVersion > 0) this.signer = newSigner();
    this.rootVersion++;
    const root = new Root({ version: this.rootVersion, specVersion: SPEC_VERSION, expires: tufExpires(expires), consistentSnapshot: true });
    for (const role of ['root', 'targets', 'snapshot', 'timestamp']) root.addKey(this.signer.key, role);
    const md = this.signed(root);
    if (previous !== this.signer) md.sign(previous.sign);
    this.write(`${this.rootVersion}.root.json`, md);
  }

  /** Adds targets (and the manifest) and publishes new targets, snapshot and timestamp versions. */
  publish(content: RepoContent): void {
    const now = Date.now();
    const expires = (role: 'targets' | 'snapshot' | 'timestamp'): string => tufExpires(content.expires?.[role] ?? new Date(now + YEAR_MS));
    const files: Record<string, Buffer> = { ...content.targets };
    if (content.manifest !== undefined) {
      files['manifest.json'] = Buffer.from(typeof content.manifest === 'string' ? content.manifest : serializeManifest(content.manifest));
    }
    for (const [name, data] of Object.entries(files)) {
      const hash = sha256(data);
      this.targets[name] = new TargetFile({ path: name, length: data.length, hashes: { sha256: hash } });
      const file = this.targetPath(name);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, data);
    }
    this.version++;
    const targets = new Targets({ version: this.version, specVersion: SPEC_VERSION, expires: expires('targets'), targets: { ...this.targets } });
    this.write(`${this.version}.targets.json`, this.signed(targets));
    const snapshot = new Snapshot({
      version: this.version,
      specVersion: SPEC_VERSION,
      expires: expires('snapshot'),
      meta: { 'targets.json': new MetaFile({ version: this.version }) },
    });
    const snapshotBytes = this.write(`${this.version}.snapshot.json`, this.signed(snapshot));
    this.writeTimestamp({ version: this.version, snapshotVersion: this.version, snapshotBytes, expires: expires('timestamp') });
  }

  /**
   * Publishes a "diamond" of delegations: the top-level targets delegate `team-a/*` to role
   * `team-a` and `team-b/*` to role `team-b` (each with its own key), and each of those delegates
   * its paths to a role named `shared`, team-a with key A, team-b with key B. `shared` lists
   * `sharedTargets` and is signed with key A only: a target reached through team-b must be refused.
   */
  publishDiamond(sharedTargets: Record<string, Buffer>): void {
    const expires = tufExpires(new Date(Date.now() + YEAR_MS));
    const [teamA, teamB, sharedA, sharedB] = [newSigner(), newSigner(), newSigner(), newSigner()];
    const delegating = (roles: { name: string; signer: Signer; paths: string[] }[]) => ({
      keys: Object.fromEntries(roles.map((r) => [r.signer.key.keyID, r.signer.key.toJSON()])),
      roles: roles.map((r) => ({ name: r.name, keyids: [r.signer.key.keyID], threshold: 1, terminating: false, paths: r.paths })),
    });
    const targetsJson = (listed: Record<string, TargetFile>, delegations?: ReturnType<typeof delegating>) =>
      Targets.fromJSON({
        _type: 'targets',
        spec_version: SPEC_VERSION,
        version: this.version,
        expires,
        targets: Object.fromEntries(Object.entries(listed).map(([n, t]) => [n, t.toJSON()])),
        ...(delegations === undefined ? {} : { delegations }),
      });
    const shared: Record<string, TargetFile> = {};
    for (const [name, data] of Object.entries(sharedTargets)) {
      const hash = sha256(data);
      shared[name] = new TargetFile({ path: name, length: data.length, hashes: { sha256: hash } });
      const file = this.hashedPath(name, hash);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, data);
    }
    this.version++;
    const roles: [string, Targets, Signer][] = [
      ['targets', targetsJson({}, delegating([{ name: 'team-a', signer: teamA, paths: ['team-a/*'] }, { name: 'team-b', signer: teamB, paths: ['team-b/*'] }])), this.signer],
      ['team-a', targetsJson({}, delegating([{ name: 'shared', signer: sharedA, paths: ['team-a/*'] }])), teamA],
      ['team-b', targetsJson({}, delegating([{ name: 'shared', signer: sharedB, paths: ['team-b/*'] }])), teamB],
      ['shared', targetsJson(shared), sharedA],
    ];
    const meta: Record<string, MetaFile> = {};
    for (const [role, signed, signer] of roles) {
      const md = new Metadata(signed);
      md.sign(signer.sign);
      this.write(`${this.version}.${role}.json`, md);
      meta[`${role}.json`] = new MetaFile({ version: this.version });
    }
    const snapshot = new Snapshot({ version: this.version, specVersion: SPEC_VERSION, expires, meta });
    const snapshotBytes = this.write(`${this.version}.snapshot.json`, this.signed(snapshot));
    this.writeTimestamp({ version: this.version, snapshotVersion: this.version, snapshotBytes, expires });
  }

  /** Writes timestamp.json pointing at any snapshot version (for rollback tests). */
  writeTimestamp(t: { version: number; snapshotVersion: number; snapshotBytes: Buffer; expires: string }): void {
    const timestamp = new Timestamp({
      version: t.version,
      specVersion: SPEC_VERSION,
      expires: t.expires,
      snapshotMeta: new MetaFile({ version: t.snapshotVersion, length: t.snapshotBytes.length, hashes: { sha256: sha256(t.snapshotBytes) } }),
    });
    this.write('timestamp.json', this.signed(timestamp));
  }

  /** Path of a published target's file (`targets/<dir>/<sha256>.<basename>`). */
  targetPath(name: string): string {
    const info = this.targets[name];
    if (!info) throw new Error(`no target ${name}`);
    return this.hashedPath(name, info.hashes.sha256!);
  }

  private hashedPath(name: string, sha256Hex: string): string {
    return join(this.targetsDir, posix.dirname(name), `${sha256Hex}.${posix.basename(name)}`);
  }

  private signed(signed: Root | Targets | Snapshot | Timestamp): Metadata<Root | Targets | Snapshot | Timestamp> {
    const md = new Metadata(signed);
    md.sign(this.signer.sign);
    return md;
  }

  private write(name: string, md: Metadata<Root | Targets | Snapshot | Timestamp>): Buffer {
    const bytes = Buffer.from(JSON.stringify(md.toJSON()));
    writeFileSync(join(this.metadataDir, name), bytes);
    return bytes;
  }
}

/** Creates a repository with a root and one published version of `content`. */
export function buildTestRepository(dir: string, content: RepoContent = {}): TestRepository {
  const repo = new TestRepository(dir);
  repo.writeRoot(content.expires?.root ?? new Date(Date.now() + YEAR_MS));
  repo.publish(content);
  return repo;
}
