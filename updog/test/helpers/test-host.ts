import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTestRepository, type RepoContent, type TestRepository } from './build-repo.js';
import { runBin, UPDOG_BIN, type BinResult } from './run-bin.js';
import { startStaticServer, type RequestHook, type StaticServer } from './static-server.js';
import { tempDir, type TempDir } from './temp-dir.js';

export interface TestHostOptions {
  repo: RepoContent;
  /** updog.toml values as TOML literals (`seed: '7'`, `version_lock: '"latest"'`), over the defaults. */
  config?: Record<string, string>;
  /** os-release text; default aws-k8s-1.31 1.0.0 x86_64. */
  osRelease?: string;
  serverHook?: RequestHook;
}

/** A signed repository served on loopback and a host's files (config, os-release, root, cache) pointing at it. */
export interface TestHost {
  dir: TempDir;
  repo: TestRepository;
  server: StaticServer;
  paths: { config: string; osRelease: string; rootJson: string; metadataCache: string };
  /** UPDOG_* variables naming the host paths, and no proxy variables from the test's environment. */
  env: Record<string, string | undefined>;
  /** Runs the compiled updog with `args` (command first) against this host. */
  run(args: string[], env?: Record<string, string | undefined>): Promise<BinResult>;
  close(): Promise<void>;
}

export const TEST_OS_RELEASE = 'VARIANT_ID=aws-k8s-1.31\nVERSION_ID=1.0.0\nBUILD_ID=abc\nARCH=x86_64\n';

export async function createTestHost(opts: TestHostOptions): Promise<TestHost> {
  const dir = tempDir();
  const repo = buildTestRepository(join(dir.path, 'repo'), opts.repo);
  const server = await startStaticServer(join(dir.path, 'repo'), opts.serverHook);
  const toml = {
    metadata_base_url: `"${server.url}/metadata/"`,
    targets_base_url: `"${server.url}/targets/"`,
    seed: '100',
    version_lock: '"latest"',
    ignore_waves: 'false',
    ...opts.config,
  };
  const paths = {
    config: join(dir.path, 'updog.toml'),
    osRelease: join(dir.path, 'os-release'),
    rootJson: repo.rootJsonPath,
    metadataCache: join(dir.path, 'cache'),
  };
  writeFileSync(paths.config, Object.entries(toml).map(([k, v]) => `${k} = ${v}\n`).join(''));
  writeFileSync(paths.osRelease, opts.osRelease ?? TEST_OS_RELEASE);
  const env = {
    UPDOG_CONFIG: paths.config,
    UPDOG_OS_RELEASE: paths.osRelease,
    UPDOG_ROOT_JSON: paths.rootJson,
    UPDOG_METADATA_CACHE: paths.metadataCache,
    UPDOG_MIGRATIONS_DIR: join(dir.path, 'bottlerocket-migrations'),
    UPDOG_MIGRATOR_METADATA_DIR: join(dir.path, 'bottlerocket-metadata'),
    http_proxy: undefined,
    https_proxy: undefined,
    no_proxy: undefined,
    HTTP_PROXY: undefined,
    HTTPS_PROXY: undefined,
    NO_PROXY: undefined,
  };
  return {
    dir,
    repo,
    server,
    paths,
    env,
    run: (args, extra = {}) => runBin(UPDOG_BIN, args, { ...env, ...extra }),
    close: async () => {
      await server.close();
      dir.cleanup();
    },
  };
}
