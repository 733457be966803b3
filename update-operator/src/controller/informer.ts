/**
 * An informer in the manner of client-go: list once (paginated, a quorum read), then watch from the
 * list's resourceVersion with bookmarks; a watch that ends is resumed from the last seen
 * resourceVersion, and one that is too old (410 Gone) is replaced by a fresh list whose differences
 * are delivered as events. Objects are projected on arrival to the few fields the controller uses
 * (memory per node), and handlers see the previous and next projection so they can ignore changes
 * that matter to nobody (an agent heartbeat, a kubelet status update).
 */
import { isApiCode, type KubeClient } from '../common/kube-client.js';

export interface Named {
  metadata: { name: string; resourceVersion?: string };
}

export interface InformerHandlers<T> {
  upsert(previous: T | undefined, next: T): void;
  remove(previous: T): void;
}

export interface InformerOptions<T> {
  /** Collection path, e.g. /api/v1/nodes. */
  path: string;
  /** Extra list/watch parameters (labelSelector, fieldSelector). */
  query?: Record<string, string>;
  project(raw: unknown): T;
  handlers: InformerHandlers<T>;
  /** Called once per list page and per watch opened (request accounting). */
  onRequest(verb: 'list' | 'watch'): void;
  onWatchError(err: unknown): void;
  /** Server-side watch timeout; the watch is then resumed (default 300 s). */
  watchTimeoutSeconds?: number;
  pageSize?: number;
}

class GoneError extends Error {}

/** resourceVersions of one collection grow; compare them as numbers when they are (etcd's are). */
export function isNewerVersion(next: string | undefined, previous: string | undefined): boolean {
  const a = Number(next);
  const b = Number(previous);
  return !Number.isFinite(a) || !Number.isFinite(b) || a >= b;
}

interface ListPage {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[];
}

export class Informer<T extends Named> {
  readonly items = new Map<string, T>();
  private resourceVersion: string | undefined;
  private abort: AbortController | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: InformerOptions<T>,
  ) {}

  /** Lists (delivering every object as an upsert) and starts watching; resolves once the cache is filled. */
  async start(): Promise<void> {
    await this.relist();
    this.loop = this.watchLoop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.loop;
  }

  /** Write-through of an object this process just wrote (no event: the writer knows). */
  put(object: T): void {
    const current = this.items.get(object.metadata.name);
    if (current === undefined || isNewerVersion(object.metadata.resourceVersion, current.metadata.resourceVersion)) this.items.set(object.metadata.name, object);
  }

  /** A quorum read elsewhere saw this object: take it if it is newer, with an event like the watch's. */
  observe(object: T): void {
    this.apply('MODIFIED', object);
  }

  private async relist(): Promise<void> {
    const seen = new Set<string>();
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const query: Record<string, string> = { ...this.opts.query, limit: String(this.opts.pageSize ?? 500), ...(continueToken ? { continue: continueToken } : {}) };
      this.opts.onRequest('list');
      const page = await this.client.request<ListPage>('GET', this.opts.path, { query });
      for (const raw of page.items ?? []) {
        const object = this.opts.project(raw);
        seen.add(object.metadata.name);
        this.apply('MODIFIED', object);
      }
      resourceVersion = page.metadata?.resourceVersion;
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken !== undefined);
    for (const [name, object] of this.items) {
      if (seen.has(name)) continue;
      this.items.delete(name);
      this.opts.handlers.remove(object);
    }
    this.resourceVersion = resourceVersion;
  }

  private apply(type: string, object: T): void {
    const previous = this.items.get(object.metadata.name);
    if (type === 'DELETED') {
      if (previous === undefined) return;
      this.items.delete(object.metadata.name);
      this.opts.handlers.remove(previous);
      return;
    }
    if (previous !== undefined && !isNewerVersion(object.metadata.resourceVersion, previous.metadata.resourceVersion)) return;
    this.items.set(object.metadata.name, object);
    this.opts.handlers.upsert(previous, object);
  }

  private async watchLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.watchOnce();
      } catch (err) {
        if (this.stopped) return;
        if (!(err instanceof GoneError)) {
          this.opts.onWatchError(err);
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        // too old to resume: list again (retrying until the apiserver answers)
        for (;;) {
          try {
            await this.relist();
            break;
          } catch (listErr) {
            if (this.stopped) return;
            this.opts.onWatchError(listErr);
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      }
    }
  }

  /** One watch request, from the last seen resourceVersion until it ends; throws GoneError on 410. */
  private async watchOnce(): Promise<void> {
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300;
    const query = { ...this.opts.query, resourceVersion: this.resourceVersion ?? '', allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) };
    const abort = new AbortController();
    this.abort = abort;
    if (this.stopped) return;
    this.opts.onRequest('watch');
    let gone = false;
    try {
      await this.client.watch(
        this.opts.path,
        query,
        ({ type, object }) => {
          if (type === 'ERROR') {
            if ((object as { code?: number }).code === 410) gone = true;
            abort.abort();
            return;
          }
          const rv = (object as Named).metadata?.resourceVersion;
          if (type !== 'BOOKMARK') this.apply(type, this.opts.project(object));
          if (rv !== undefined) this.resourceVersion = rv;
        },
        abort.signal,
      );
    } catch (err) {
      if (isApiCode(err, 410)) throw new GoneError('resourceVersion too old');
      throw err;
    }
    if (gone) throw new GoneError('resourceVersion too old');
  }
}
