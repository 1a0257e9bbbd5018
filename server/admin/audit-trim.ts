// What an audit line keeps of the arguments an operator (or an attacker with
// the token) sent: long strings are cut and say so, deep or wide objects are
// summarized, so one request cannot write megabytes to the audit log.

const MAX_STRING = 200;
const MAX_KEYS = 50;
const MAX_DEPTH = 4;

export function trimForAudit(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}... (cut: ${value.length} characters)` : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '(cut: nested too deep)';
  if (Array.isArray(value)) {
    const kept = value.slice(0, MAX_KEYS).map((v) => trimForAudit(v, depth + 1));
    if (value.length > MAX_KEYS) kept.push(`(cut: ${value.length - MAX_KEYS} more items)`);
    return kept;
  }
  const out: Record<string, unknown> = {};
  const keys = Object.keys(value);
  for (const key of keys.slice(0, MAX_KEYS)) out[trimForAudit(key) as string] = trimForAudit((value as Record<string, unknown>)[key], depth + 1);
  if (keys.length > MAX_KEYS) out['(cut)'] = `${keys.length - MAX_KEYS} more keys`;
  return out;
}
