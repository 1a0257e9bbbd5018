import { rebindError, RebindError } from '../errors.ts';
import { thrownMessage } from '../thrown.ts';

// An admin action's result is read once, into JSON text, and the reply and the
// audit line are both made from that text, never from the value again. A value
// logic made (`rebind call`) may answer differently each time it is read (a
// toJSON or a getter that counts): read twice, a second read that threw failed
// the action after it had taken effect, with no audit line.

/** Past this size the audit line keeps the cut text only, and the text is not parsed back. */
const PARSE_LIMIT = 1024 * 1024;

/** The value as JSON text, read once; HANDLER_ERROR for one JSON cannot carry (a getter or toJSON that throws, a cycle, a bigint, a symbol). */
export function jsonOnce(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw rebindError('HANDLER_ERROR', `${what} could not be encoded: ${thrownMessage(err)}`);
  }
  if (text !== undefined) return text;
  if (value === undefined) return 'null';
  throw rebindError('HANDLER_ERROR', `${what} could not be encoded: JSON cannot carry a ${typeof value}`);
}

/** The text back as plain data when it is small enough to be worth reading (the audit's summary of a patch record); else undefined. */
export function parsedIfSmall(text: string): unknown {
  return text.length <= PARSE_LIMIT ? (JSON.parse(text) as unknown) : undefined;
}

/**
 * A coded error as plain data for a reply or an audit line: code, message, and its location and details when they
 * encode. Its own toJSON is not called (a subclass logic made may replace it), and what it reads is read once.
 */
export function errorBody(e: RebindError): { code: string; message: string } {
  try {
    return JSON.parse(jsonOnce(RebindError.prototype.toJSON.call(e), 'the error')) as { code: string; message: string };
  } catch {
    return { code: e.code, message: e.message };
  }
}
