import { UserError } from '../common/errors.js';

/** A host configuration problem, always naming the file (and field) so the operator can fix it. */
export class ConfigError extends UserError {
  constructor(file: string, problem: string, cause?: unknown) {
    super(`${file}: ${problem}`, { cause });
  }
}
