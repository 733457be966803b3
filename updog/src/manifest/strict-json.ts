/**
 * JSON.parse silently keeps the last of duplicate object keys. A manifest with two entries for
 * the same wave seed or migration is ambiguous, so this parser reports duplicates instead.
 * It accepts exactly RFC 8259 JSON; strings and numbers are decoded by JSON.parse itself.
 */
export class JsonSyntaxError extends Error {}

export function parseJsonRejectingDuplicates(text: string): unknown {
  let pos = 0;

  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at offset ${pos}`);
  };
  const skipWs = (): void => {
    while (pos < text.length && ' \t\n\r'.includes(text[pos]!)) pos++;
  };
  const expect = (ch: string): void => {
    skipWs();
    if (text[pos] !== ch) fail(`expected '${ch}'`);
    pos++;
  };

  const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

  const readToken = (re: RegExp, what: string): string => {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return fail(`invalid ${what}`);
    pos += m[0].length;
    return m[0];
  };

  const value = (path: string): unknown => {
    skipWs();
    const ch = text[pos];
    if (ch === '{') return object(path);
    if (ch === '[') return array(path);
    if (ch === '"') return JSON.parse(readToken(STRING, 'string')) as string;
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return v;
      }
    }
    return Number(readToken(NUMBER, 'value'));
  };

  const object = (path: string): Record<string, unknown> => {
    pos++; // '{'
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    skipWs();
    if (text[pos] === '}') {
      pos++;
      return out;
    }
    for (;;) {
      skipWs();
      const key = JSON.parse(readToken(STRING, 'object key')) as string;
      if (Object.prototype.hasOwnProperty.call(out, key)) {
        throw new JsonSyntaxError(`duplicate key "${key}" in ${path || 'the top-level object'}`);
      }
      expect(':');
      out[key] = value(path ? `${path}.${key}` : key);
      skipWs();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      expect('}');
      return out;
    }
  };

  const array = (path: string): unknown[] => {
    pos++; // '['
    const out: unknown[] = [];
    skipWs();
    if (text[pos] === ']') {
      pos++;
      return out;
    }
    for (;;) {
      out.push(value(`${path}[${out.length}]`));
      skipWs();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      expect(']');
      return out;
    }
  };

  const result = value('');
  skipWs();
  if (pos !== text.length) fail('unexpected trailing data');
  return result;
}
