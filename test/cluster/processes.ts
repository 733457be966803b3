import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';

/** A control-plane process running in its own process group, logging to a file. */
export interface ManagedProcess {
  name: string;
  pid: number;
  logFile: string;
  child: ChildProcess;
  /** Resolves when the process has exited (whatever the reason). */
  exited: Promise<void>;
}

export function spawnManaged(name: string, command: string, args: string[], logFile: string): ManagedProcess {
  const fd = openSync(logFile, 'a');
  // detached: its own process group, so one kill reaches anything it forks.
  const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.once('error', () => undefined);
  return { name, pid: child.pid, logFile, child, exited };
}

export function isRunning(p: ManagedProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** Last lines of a process's log, for error messages. */
export function logTail(p: ManagedProcess, lines = 15): string {
  try {
    return readFileSync(p.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM the process group, SIGKILL it if it is still there after `graceMs`. */
export async function stopManaged(p: ManagedProcess, graceMs = 5_000): Promise<void> {
  if (!isRunning(p)) return;
  killGroup(p.pid, 'SIGTERM');
  const timer = setTimeout(() => killGroup(p.pid, 'SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
  killGroup(p.pid, 'SIGKILL'); // anything the leader left behind in its group
}

/** Synchronous last resort for process 'exit' handlers: kill groups and remove the work dir. */
export function killNow(processes: ManagedProcess[], workDir: string): void {
  for (const p of processes) killGroup(p.pid, 'SIGKILL');
  rmSync(workDir, { recursive: true, force: true });
}

/**
 * A detached shell that outlives us only to clean up: when our process dies without running its
 * teardown (SIGKILL, crash), it kills the control-plane process groups and removes the work dir.
 */
export function startWatchdog(processes: ManagedProcess[], workDir: string): ChildProcess {
  const groups = processes.map((p) => `-${p.pid}`).join(' ');
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -KILL ${groups} 2>/dev/null; rm -rf '${workDir.replaceAll("'", "'\\''")}'`;
  const watchdog = spawn('bash', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.unref();
  return watchdog;
}

/** `count` distinct free loopback TCP ports (held open together so they differ; a tiny race before reuse is acceptable). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer().listen(0, '127.0.0.1'));
  await Promise.all(servers.map((s) => (s.listening ? undefined : once(s, 'listening'))));
  const ports = servers.map((s) => {
    const address = s.address();
    if (address === null || typeof address === 'string') throw new Error('could not allocate a loopback port');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
