/**
 * The project's module graph from its import statements, and the rules it must keep: no import
 * reaches into another workspace package (only its `exports` by package name), no cycles between
 * modules, and within updog a module imports only its own folder or a lower layer. Pure apart from
 * `readSourceTree`, so the rules are tested on trees the tests build.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

export const PACKAGES = ['updog', 'tuf-repo-tools', 'update-operator'] as const;

/**
 * updog's folders by layer, lowest first: a module may import its own folder or any folder of a
 * lower layer. The entry files at updog/src/*.ts (the package's exports) sit above every layer.
 */
export const UPDOG_LAYERS: readonly (readonly string[])[] = [
  ['common'],
  ['manifest', 'gpt', 'block-index'],
  ['waves', 'partitions', 'net'],
  ['config', 'boot'],
  ['selection', 'signpost', 'install', 'tuf'],
  ['block-install'],
  ['update'],
  ['api'],
  ['cli'],
];

/** Source files by path relative to the repository root. */
export type SourceTree = ReadonlyMap<string, string>;

export interface ImportEdge {
  from: string;
  /** The specifier as written. */
  specifier: string;
  /** The imported file (relative specifiers only), `.ts` for the `.js` written. */
  to?: string;
}

const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

/** Every import and re-export of one file (static, dynamic, type-only alike). */
export function importsOf(path: string, text: string): ImportEdge[] {
  const withoutComments = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const edges: ImportEdge[] = [];
  for (const match of withoutComments.matchAll(IMPORT_RE)) {
    const specifier = (match[1] ?? match[2])!;
    const edge: ImportEdge = { from: path, specifier };
    if (specifier.startsWith('.')) edge.to = normalize(join(dirname(path), specifier)).replace(/\.js$/, '.ts');
    edges.push(edge);
  }
  return edges;
}

function packageOf(path: string): string | undefined {
  const first = path.split('/')[0]!;
  return (PACKAGES as readonly string[]).includes(first) ? first : undefined;
}

/** Imports that reach into another package's files instead of its exports. */
export function boundaryViolations(tree: SourceTree): string[] {
  const problems: string[] = [];
  for (const [path, text] of tree) {
    const own = packageOf(path);
    for (const edge of importsOf(path, text)) {
      if (edge.to === undefined) continue;
      const target = packageOf(edge.to);
      if (target !== undefined && target !== own && edge.to.startsWith(`${target}/src/`)) {
        problems.push(`${path} imports ${edge.specifier}: use the exports of @updog-ts/${target} instead`);
      }
    }
  }
  return problems;
}

/** updog modules importing a higher layer (or a folder the layer list does not know). */
export function layerViolations(tree: SourceTree): string[] {
  const layerOf = (path: string): number | undefined => {
    const parts = path.split('/');
    if (parts[0] !== 'updog' || parts[1] !== 'src') return undefined;
    if (parts.length === 3) return UPDOG_LAYERS.length; // a package entry point
    const index = UPDOG_LAYERS.findIndex((layer) => layer.includes(parts[2]!));
    return index === -1 ? -1 : index;
  };
  const folderOf = (path: string): string => path.split('/').slice(0, 3).join('/');
  const problems: string[] = [];
  for (const [path, text] of tree) {
    const from = layerOf(path);
    if (from === undefined) continue;
    if (from === -1) {
      problems.push(`${path}: folder ${folderOf(path)} has no layer in UPDOG_LAYERS`);
      continue;
    }
    for (const edge of importsOf(path, text)) {
      const to = edge.to === undefined ? undefined : layerOf(edge.to);
      if (to === undefined || folderOf(edge.to!) === folderOf(path)) continue;
      if (to >= from) problems.push(`${path} imports ${edge.specifier}: ${folderOf(edge.to!)} is not below ${folderOf(path)}`);
    }
  }
  return problems;
}

/** Import cycles between modules (strongly connected components of more than one file, or a self-import). */
export function importCycles(tree: SourceTree): string[][] {
  const graph = new Map<string, string[]>();
  for (const [path, text] of tree) {
    graph.set(path, importsOf(path, text).flatMap((e) => (e.to !== undefined && tree.has(e.to) ? [e.to] : [])));
  }
  // Tarjan's algorithm, iterative so that deep import chains cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { node: string; edge: number }[] = [{ node: root, edge: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const edges = graph.get(frame.node)!;
      if (frame.edge < edges.length) {
        const to = edges[frame.edge++]!;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        if (component.length > 1 || edges.includes(frame.node)) cycles.push(component.sort());
      }
    }
  }
  return cycles;
}

/** The TypeScript sources of the three packages (src and tests), the demo and the test harness. */
export function readSourceTree(root: string): Map<string, string> {
  const tree = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) tree.set(path, readFileSync(join(root, path), 'utf8'));
    }
  };
  for (const dir of [...PACKAGES, 'demo', 'test']) walk(dir);
  return tree;
}
