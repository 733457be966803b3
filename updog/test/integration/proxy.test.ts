import { afterEach, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/manifest/manifest.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { createTestHost, type TestHost } from '../helpers/test-host.js';

const MANIFEST: Manifest = {
  updates: [
    {
      variant: 'aws-k8s-1.31',
      arch: 'x86_64',
      version: '1.1.0',
      maxVersion: '1.1.0',
      waves: [],
      images: { boot: 'boot.lz4', root: 'root.lz4', hash: 'hash.lz4' },
    },
  ],
  migrations: [],
};

let host: TestHost | undefined;
let proxy: TestProxy | undefined;
afterEach(async () => {
  await host?.close();
  await proxy?.close();
  host = proxy = undefined;
});

async function setup(config: (proxyUrl: string) => Record<string, string>): Promise<{ host: TestHost; proxy: TestProxy }> {
  proxy = await startProxy();
  host = await createTestHost({ repo: { manifest: MANIFEST }, config: config(proxy.url) });
  return { host, proxy };
}

/** Every request of a check-update (root walk, timestamp, snapshot, targets, manifest) goes through one tunnel per connection. */
const tunnelTo = (h: TestHost): string => `CONNECT ${new URL(h.server.url).host}`;

describe('check-update through a proxy', () => {
  it('uses https_proxy from updog.toml for every repository request', async () => {
    const { host: h, proxy: p } = await setup((url) => ({ https_proxy: `"${url}"` }));
    const r = await h.run(['check-update']);
    expect(r).toEqual({ code: 0, stdout: 'aws-k8s-1.31 1.1.0\n', stderr: '' });
    expect(p.requests.length).toBeGreaterThan(0);
    expect(new Set(p.requests)).toEqual(new Set([tunnelTo(h)]));
    expect(h.server.requests).toHaveLength(5);
  });

  it('goes direct for hosts in no_proxy from updog.toml', async () => {
    const { host: h, proxy: p } = await setup((url) => ({ https_proxy: `"${url}"`, no_proxy: '["localhost", "127.0.0.1"]' }));
    const r = await h.run(['check-update']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(p.requests).toEqual([]);
    expect(h.server.requests).toHaveLength(5);
  });

  it('follows HTTP_PROXY and NO_PROXY from the environment when updog.toml sets none', async () => {
    const { host: h, proxy: p } = await setup(() => ({}));
    const first = await h.run(['check-update'], { HTTP_PROXY: p.url });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(new Set(p.requests)).toEqual(new Set([tunnelTo(h)]));
    p.requests.length = 0;
    const second = await h.run(['check-update'], { HTTP_PROXY: p.url, NO_PROXY: '127.0.0.1' });
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(p.requests).toEqual([]);
  });

  it('fails with a clear message when the proxy is unreachable', async () => {
    const { host: h, proxy: p } = await setup(() => ({}));
    await p.close();
    proxy = undefined;
    const r = await h.run(['check-update'], { HTTP_PROXY: p.url });
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    // three retries with backoff, logged, then one error line naming the request and the proxy
    expect(lines.slice(0, -1).map((l) => (JSON.parse(l) as { msg: string; attempt: number }).attempt)).toEqual([1, 2, 3]);
    const proxyPort = new URL(p.url).port;
    expect(lines.at(-1)).toBe(
      `updog: error: TUF metadata from ${h.server.url}/metadata/: ` +
        `GET ${h.server.url}/metadata/2.root.json?seed=100&version=1.0.0: 2.root.json: connect ECONNREFUSED 127.0.0.1:${proxyPort} (4 attempts)`,
    );
  });
});
