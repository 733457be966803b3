/**
 * The cluster demo's live view: one row per node (state, version, cordoned, reason) and the
 * workload's PDB. On a terminal the table is redrawn in place; otherwise each change is appended
 * as a line, so logs and CI output stay readable.
 */
import type { NodeUpdate } from '@updog-ts/update-operator';

export interface NodeRow {
  node: string;
  state: string;
  version: string;
  cordoned: boolean;
  reason: string;
}

export interface PdbView {
  name: string;
  readyPods: number;
  minAvailable: number;
}

/** What a node is doing, in words: an active condition or failure wins over the state's meaning. */
export function rowReason(nu: NodeUpdate | undefined, version: string, target: string): string {
  const status = nu?.status;
  if (status === undefined) return 'agent has not reported yet';
  const condition = status.conditions?.find((c) => c.status === 'True');
  if (condition !== undefined) return `${condition.type}: ${condition.reason}`;
  if (status.lastFailure !== undefined) return `${status.lastFailure.reason}: ${status.lastFailure.message}`;
  switch (status.state) {
    case 'Staging':
      return `writing ${target} to the inactive partitions`;
    case 'Staged':
      return `${target} staged, waiting to drain`;
    case 'Draining':
      return 'evicting pods (PDB-aware)';
    case 'Rebooting':
      return `rebooting into ${target}`;
    case 'Verifying':
      return 'health gate: Ready and soaking';
    default:
      if (version === target) return 'updated';
      return status.availableVersion === target ? 'waiting for a free slot' : `waiting for the agent to see ${target}`;
  }
}

const COLUMNS: Array<[keyof NodeRow, string]> = [
  ['node', 'NODE'],
  ['state', 'STATE'],
  ['version', 'VERSION'],
  ['cordoned', 'CORDONED'],
  ['reason', 'REASON'],
];

const cell = (row: NodeRow, key: keyof NodeRow): string => (key === 'cordoned' ? (row.cordoned ? 'yes' : 'no') : String(row[key]));

export function pdbLine(pdb: PdbView): string {
  return `PDB ${pdb.name}: ${pdb.readyPods} ready pods, minAvailable ${pdb.minAvailable}`;
}

/** The table as lines, columns padded to their widest cell. */
export function renderTable(rows: NodeRow[], pdb: PdbView): string[] {
  const widths = COLUMNS.map(([key, title]) => Math.max(title.length, ...rows.map((r) => cell(r, key).length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  return [line(COLUMNS.map(([, title]) => title)), ...rows.map((r) => line(COLUMNS.map(([key]) => cell(r, key)))), pdbLine(pdb)];
}

/** Where the view is drawn: a terminal (redrawn in place) or any text sink. */
export interface ViewOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface LiveView {
  update(rows: NodeRow[], pdb: PdbView): void;
}

/** Redraws the table in place on a TTY; otherwise appends a line per changed row or PDB count. */
export function createLiveView(out: ViewOutput, startedAt = Date.now()): LiveView {
  let drawnLines = 0;
  const lastRows = new Map<string, string>();
  let lastPdb = '';
  return {
    update(rows, pdb) {
      const elapsed = `${((Date.now() - startedAt) / 1000).toFixed(1)}s`;
      if (out.isTTY === true) {
        // a wrapped line would throw off the cursor movement of the next redraw
        const width = (out.columns ?? Infinity) - 1;
        const lines = [...renderTable(rows, pdb), `elapsed ${elapsed}`].map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
        // cursor up over the previous drawing, clear to the end of the screen, draw again
        out.write(`${drawnLines > 0 ? `\x1b[${drawnLines}A\x1b[0J` : ''}${lines.join('\n')}\n`);
        drawnLines = lines.length;
        return;
      }
      for (const row of rows) {
        const text = `${row.node} | ${row.state} | ${row.version} | cordoned ${cell(row, 'cordoned')} | ${row.reason}`;
        if (lastRows.get(row.node) === text) continue;
        lastRows.set(row.node, text);
        out.write(`[${elapsed}] ${text}\n`);
      }
      const pdbText = pdbLine(pdb);
      if (pdbText !== lastPdb) {
        lastPdb = pdbText;
        out.write(`[${elapsed}] ${pdbText}\n`);
      }
    },
  };
}
