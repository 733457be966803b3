import v8 from 'node:v8';

/**
 * Keeps V8's young generation at its initial size for the life of the process. Since Node 22, V8
 * lets each semi-space grow to 64 MiB (Node 20: 16 MiB) when many objects survive a scavenge,
 * which block planning and large metadata parses do; the space is then kept, and a 768 MiB block
 * install peaked 16-20 MiB higher for it. updog's allocations are short-lived (buffers of a
 * stream, parsed metadata), so a small young generation costs a few more scavenges and no
 * measurable time (npm run bench, bench:delta, bench:manifest). Settable at run time, unlike
 * --max-semi-space-size, which Node also refuses in NODE_OPTIONS.
 */
export function keepYoungGenerationSmall(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
