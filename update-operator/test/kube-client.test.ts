/** KubeClient against a loopback HTTP server standing in for the apiserver. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { isApiCode, KubeApiError, KubeClient, type WatchEvent } from '../src/common/kube-client.js';

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }

async function server(handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void): Promise<{ client: KubeClient; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return { client: new KubeClient(kc), seen, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }) };
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe('KubeClient', () => {
  it('sends JSON with the bearer token, and merge patches with their content type', async () => {
    const s = await server((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"Node","metadata":{"name":"n1"}}'));
    close = s.close;
    expect(await s.client.request('GET', '/api/v1/nodes/n1', { query: { fieldSelector: 'a=b c' } })).toEqual({ kind: 'Node', metadata: { name: 'n1' } });
    await s.client.request('PATCH', '/api/v1/nodes/n1', { body: { spec: { unschedulable: true } }, mergePatch: true });
    await s.client.request('POST', '/api/v1/namespaces/x/events', { body: { reason: 'R' } });
    expect(s.seen.map((r) => [r.method, r.url, r.headers['content-type'], r.body])).toEqual([
      ['GET', '/api/v1/nodes/n1?fieldSelector=a%3Db+c', undefined, ''],
      ['PATCH', '/api/v1/nodes/n1', 'application/merge-patch+json', '{"spec":{"unschedulable":true}}'],
      ['POST', '/api/v1/namespaces/x/events', 'application/json', '{"reason":"R"}'],
    ]);
    expect(s.seen.every((r) => r.headers.authorization === 'Bearer secret-token')).toBe(true);
  });

  it('rejects a non-2xx answer with KubeApiError carrying the code, the Status and the headers', async () => {
    const status = { kind: 'Status', code: 429, message: 'Cannot evict pod as it would violate the pod disruption budget.' };
    const s = await server((_req, res) => res.writeHead(429, { 'retry-after': '7' }).end(JSON.stringify(status)));
    close = s.close;
    const err = await s.client.request('POST', '/api/v1/namespaces/a/pods/p/eviction', { body: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ code: 429, body: status, message: `POST /api/v1/namespaces/a/pods/p/eviction: HTTP 429: ${status.message}` });
    expect((err as KubeApiError).headers['retry-after']).toBe('7');
    expect(isApiCode(err, 429)).toBe(true);
    expect(isApiCode(err, 404)).toBe(false);
  });

  it('streams watch events split anywhere, a character across chunks included, until the server ends the watch', async () => {
    const events = [
      { type: 'ADDED', object: { metadata: { name: 'nœud-1', resourceVersion: '5' } } },
      { type: 'BOOKMARK', object: { metadata: { resourceVersion: '6' } } },
      { type: 'MODIFIED', object: { metadata: { name: 'n2', resourceVersion: '7' } } },
    ];
    const wire = Buffer.from(events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const split = wire.indexOf(Buffer.from('œ')) + 1; // inside the two bytes of œ
    const s = await server(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (const part of [wire.subarray(0, split), wire.subarray(split, split + 30), wire.subarray(split + 30)]) {
        res.write(part);
        await new Promise((r) => setTimeout(r, 20));
      }
      res.end();
    });
    close = s.close;
    const got: WatchEvent[] = [];
    await s.client.watch('/api/v1/nodes', { resourceVersion: '4', timeoutSeconds: '30' }, (e) => got.push(e), new AbortController().signal);
    expect(got).toEqual(events);
    expect(s.seen[0]?.url).toBe('/api/v1/nodes?resourceVersion=4&timeoutSeconds=30&watch=true');
  });

  it('refuses an answer or a watch event that is not JSON, naming the request', async () => {
    const s = await server((req, res) => {
      if (req.url?.includes('watch=true')) return void res.writeHead(200).end('{"type":"ADDED","object":{}}\n<html>proxy error</html>\n');
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
    });
    close = s.close;
    await expect(s.client.request('GET', '/api/v1/nodes')).rejects.toThrow('GET /api/v1/nodes: HTTP 200 with a body that is not JSON ("<html>login</html>")');
    const got: WatchEvent[] = [];
    await expect(s.client.watch('/api/v1/nodes', { timeoutSeconds: '30' }, (e) => got.push(e), new AbortController().signal)).rejects.toThrow(
      'watch /api/v1/nodes: an event that is not JSON ("<html>proxy error</html>")',
    );
    expect(got).toEqual([{ type: 'ADDED', object: {} }]);
  });

  it('a refused watch rejects (410 Gone), an aborted one resolves', async () => {
    const s = await server((req, res) => {
      if (req.url?.includes('resourceVersion=1&')) return void res.writeHead(410).end('{"kind":"Status","code":410,"message":"too old resource version"}');
      res.writeHead(200).write('');
    });
    close = s.close;
    await expect(s.client.watch('/api/v1/nodes', { resourceVersion: '1', timeoutSeconds: '30' }, () => {}, new AbortController().signal)).rejects.toMatchObject({ code: 410 });
    const abort = new AbortController();
    const watching = s.client.watch('/api/v1/nodes', { resourceVersion: '9', timeoutSeconds: '30' }, () => {}, abort.signal);
    setTimeout(() => abort.abort(), 50);
    await expect(watching).resolves.toBeUndefined();
  });
});
