import { expect } from 'vitest';
import { UpdateApiError } from '../../src/api/client.js';

/** Awaits an update API call that must be refused; returns the error for exact checks. */
export async function apiRefusal(call: Promise<unknown>): Promise<UpdateApiError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpdateApiError);
  return err as UpdateApiError;
}
