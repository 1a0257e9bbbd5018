import { rebindError } from './errors.ts';

// Validation of client payloads with any library that implements the
// Standard Schema interface (zod, valibot, arktype...): only its
// `~standard.validate` is used, so no library is a dependency of rebind.

export interface SchemaIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>;
}

export type SchemaResult<Output> = { readonly value: Output; readonly issues?: undefined } | { readonly issues: ReadonlyArray<SchemaIssue> };

/** The part of a Standard Schema that rebind reads. */
export interface PayloadSchema<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => SchemaResult<Output> | Promise<SchemaResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

export type SchemaInput<S> = S extends PayloadSchema<infer I, any> ? I : unknown;
export type SchemaOutput<S> = S extends PayloadSchema<any, infer O> ? O : unknown;

export function isPayloadSchema(value: unknown): value is PayloadSchema {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PayloadSchema)['~standard']?.validate === 'function';
}

function where(issue: SchemaIssue): string {
  const path = issue.path?.map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

const ASYNC = 'validates asynchronously, which a handler cannot wait for (its transaction is its synchronous run): use a synchronous schema (valibot: v.object, not v.objectAsync; zod: no async refine or transform)';

/**
 * Refuses, when client(schema, handler) is called (a module's top level, so at patch time), a schema that
 * validates asynchronously: it is tried once on `undefined`. A schema that is async only for some payloads
 * (an async refine reached past a first check) is caught at call time instead (validatePayload).
 */
export function refuseAsyncSchema(schema: PayloadSchema): void {
  const probe = schema['~standard'].validate(undefined);
  if (!(probe instanceof Promise)) return;
  probe.then(undefined, () => undefined); // its outcome does not matter; it must not be an unhandled rejection
  throw new TypeError(`client(schema, handler): the schema ${ASYNC}`);
}

/**
 * The payload as the schema outputs it, or BAD_PAYLOAD with the schema's own
 * messages. Synchronous only: a handler's transaction is its synchronous run,
 * and a payload is checked before the handler starts. A schema that answers
 * with a promise is the game's mistake, not the client's: a plain error
 * (HANDLER_ERROR to the caller, its stack in the log), not BAD_PAYLOAD.
 */
export function validatePayload<O>(schema: PayloadSchema<unknown, O>, payload: unknown, handler: string): O {
  const result = schema['~standard'].validate(payload);
  if (result instanceof Promise) {
    result.then(undefined, () => undefined);
    throw new Error(`${handler ? `${handler}: its` : 'its'} schema ${ASYNC}`);
  }
  if (result.issues) throw rebindError('BAD_PAYLOAD', result.issues.map(where).join('; ') || 'the payload does not match the schema');
  return result.value;
}
