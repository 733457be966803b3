/**
 * Which WebAssembly the optimizing compiler (TurboFan) may compile in this process. undici parses
 * HTTP with llhttp, compiled to WebAssembly; its state machine is one huge function, and when a
 * download makes it hot V8 optimizes it on a background thread, whose compiler memory took a
 * 1 GiB install from a steady ~97 MiB RSS to a 125-131 MiB peak for ~100 ms. llhttp gains
 * nothing from it: it reads headers, and hands each body chunk over in one call. The LZ4
 * decoder does need it (about 1.5x slower unoptimized). With llhttp left unoptimized the 1 GiB
 * install bench peaks at 95-96 MiB, at the same throughput.
 *
 * So: once the install pipeline is loaded, new WebAssembly modules stay on the baseline compiler
 * (Liftoff), except those compiled through `compileOptimizable`. V8 fixes a module's tiers when
 * the module is created, and its flags are process-wide (worker threads included).
 */
import v8 from 'node:v8';

/** Whether this process keeps new modules unoptimized (the install pipeline is loaded). */
let unoptimizedByDefault = false;

// --liftoff-only turns the tier-up flags off with it; turning it off does not turn them back on
function optimizable(): void {
  for (const flag of ['--no-liftoff-only', '--wasm-tier-up', '--wasm-dynamic-tiering']) v8.setFlagsFromString(flag);
}

/** From now on, WebAssembly modules this process creates are never optimized (llhttp's included). */
export function keepWebAssemblyUnoptimized(): void {
  unoptimizedByDefault = true;
  v8.setFlagsFromString('--liftoff-only');
}

/**
 * Runs `compile` (which creates a module) with optimization allowed for that module. A process
 * that never asked to keep modules unoptimized (tuf-repo-tools packing images) is left as it was.
 */
export function compileOptimizable<T>(compile: () => T): T {
  if (!unoptimizedByDefault) return compile();
  optimizable();
  try {
    return compile();
  } finally {
    v8.setFlagsFromString('--liftoff-only');
  }
}
