import { ClaimAssertionError, type RedDetail } from './errors';

export function show(value: unknown): string {
  if (typeof value === 'string') return value === '' ? '(empty)' : value;
  if (value === undefined) return '(nothing)';
  return JSON.stringify(value);
}

/** The claim holds when `holds` is true; the caller words what was expected and seen. */
export function claimThat(holds: boolean, detail: RedDetail): asserts holds {
  if (!holds) throw new ClaimAssertionError(detail);
}

/** A list for a message: the first items, then how many more. */
export function listed(items: readonly string[], max = 10): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
