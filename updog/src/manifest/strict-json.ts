/**
 * JSON.parse silently keeps the last of duplicate object keys. A manifest with two entries for
 * the same wave seed or migration is ambiguous, so this parser reports duplicates instead.
 * It accepts exactly RFC 8259 JSON, nested at most `maxDepth` deep.
 *
 * It is a scanner, not a second JSON decoder: one pass checks the syntax, the depth and every
 * object's keys (a Set per open object, dropped when the object closes), then JSON.parse builds
 * the value. Memory stays that of JSON.parse plus the keys of the objects open at one time, and
 * the scan is a loop with an explicit stack, so no input can exhaust the call stack.
 */
export class JsonSyntaxError extends Error {}

/** Deeper than any manifest needs (it uses 4 levels); well within what every JSON consumer handles. */
const DEFAULT_MAX_DEPTH = 64;

export interface StrictJsonOptions {
  /** Most arrays and objects open at once. */
  maxDepth?: number;
}

interface Frame {
  /** The keys seen so far, for an object; undefined for an array. */
  keys: Set<string> | undefined;
  /** For error messages: the key or index being read in this container. */
  at: string | number;
}

const HEX4 = /^[0-9a-fA-F]{4}$/;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

export function parseJsonRejectingDuplicates(text: string, options: StrictJsonOptions = {}): unknown {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  let pos = 0;
  const stack: Frame[] = [];

  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at offset ${pos}`);
  };
  const skipWs = (): void => {
    WHITESPACE.lastIndex = pos;
    WHITESPACE.test(text);
    pos = WHITESPACE.lastIndex;
  };
  /**
   * Moves past the string at `pos`; returns where it started. A loop, not a regular expression:
   * a regex repetition over a string of millions of characters can exhaust the regex stack.
   */
  const string = (what: string): number => {
    const start = pos;
    if (text.charCodeAt(pos) !== 0x22) fail(`invalid ${what}`);
    for (let i = pos + 1; i < text.length; ) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        pos = i + 1;
        return start;
      }
      if (c < 0x20) break;
      if (c !== 0x5c) {
        i++;
        continue;
      }
      const escape = text[i + 1];
      if (escape !== undefined && '"\\/bfnrt'.includes(escape)) i += 2;
      else if (escape === 'u' && HEX4.test(text.slice(i + 2, i + 6))) i += 6;
      else break;
    }
    return fail(`invalid ${what}`);
  };
  /** Moves past a token matching `re` at `pos`; returns where it started. */
  const token = (re: RegExp, what: string): number => {
    const start = pos;
    re.lastIndex = pos;
    if (!re.test(text)) fail(`invalid ${what}`);
    pos = re.lastIndex;
    return start;
  };
  /** The path of the innermost container, as in `updates[0].waves`. */
  const innermostPath = (): string =>
    stack.length <= 1
      ? 'the top-level object'
      : stack
          .slice(0, -1)
          .map((f, i) => (typeof f.at === 'number' ? `[${f.at}]` : i === 0 ? f.at : `.${f.at}`))
          .join('');
  const open = (keys: Set<string> | undefined): void => {
    if (stack.length >= maxDepth) fail(`nesting deeper than ${maxDepth} levels`);
    pos++;
    stack.push({ keys, at: keys ? '' : 0 });
  };

  // Each turn reads one value (a scalar, or the opening of a container), then what may follow it.
  let expectValue = true;
  for (;;) {
    skipWs();
    if (expectValue) {
      const ch = text[pos];
      if (ch === '{' || ch === '[') {
        open(ch === '{' ? new Set() : undefined);
        skipWs();
        if (text[pos] === (ch === '{' ? '}' : ']')) {
          pos++;
          stack.pop();
          expectValue = false;
          continue;
        }
        if (ch === '[') continue; // first element
        readKey();
        continue;
      }
      if (ch === '"') string('string');
      else if (text.startsWith('true', pos)) pos += 4;
      else if (text.startsWith('false', pos)) pos += 5;
      else if (text.startsWith('null', pos)) pos += 4;
      else token(NUMBER, 'value');
      expectValue = false;
      continue;
    }
    // after a value: end of input, a separator, or the end of the enclosing container
    const frame = stack.at(-1);
    if (frame === undefined) {
      if (pos !== text.length) fail('unexpected trailing data');
      return JSON.parse(text);
    }
    const close = frame.keys ? '}' : ']';
    if (text[pos] === ',') {
      pos++;
      if (frame.keys) readKey();
      else frame.at = (frame.at as number) + 1;
      expectValue = true;
      continue;
    }
    if (text[pos] !== close) fail(`expected '${close}'`);
    pos++;
    stack.pop();
  }

  /** Reads `"key":` into the innermost (object) frame, rejecting a key it already has. */
  function readKey(): void {
    skipWs();
    const frame = stack.at(-1)!;
    const start = string('object key');
    const raw = text.slice(start + 1, pos - 1);
    const key = raw.includes('\\') ? (JSON.parse(text.slice(start, pos)) as string) : raw;
    if (frame.keys!.has(key)) throw new JsonSyntaxError(`duplicate key "${key}" in ${innermostPath()}`);
    frame.keys!.add(key);
    frame.at = key;
    skipWs();
    if (text[pos] !== ':') fail(`expected ':'`);
    pos++;
    expectValue = true;
  }
}
