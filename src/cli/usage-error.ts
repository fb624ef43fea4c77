import { KeelError } from '../index.js';

/** A command line keel cannot take (exit status 2, with the usage text). */
export class UsageError extends KeelError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}
