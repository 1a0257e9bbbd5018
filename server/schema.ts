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

/**
 * The payload as the schema outputs it, or BAD_PAYLOAD with the schema's own
 * messages. Synchronous only: a handler's transaction is its synchronous run,
 * and a payload is checked before the handler starts.
 */
export function validatePayload<O>(schema: PayloadSchema<unknown, O>, payload: unknown, handler: string): O {
  const result = schema['~standard'].validate(payload);
  if (result instanceof Promise) {
    throw rebindError('BAD_PAYLOAD', `${handler}: its schema validates asynchronously, which a handler cannot wait for; use a synchronous schema`);
  }
  if (result.issues) throw rebindError('BAD_PAYLOAD', result.issues.map(where).join('; ') || 'the payload does not match the schema');
  return result.value;
}
