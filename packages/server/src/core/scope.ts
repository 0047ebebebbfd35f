/**
 * Scope handling (RFC 6749 section 3.3): space-delimited, case-sensitive, order-insensitive.
 */

/** Splits a scope string into its distinct values, in first-seen order. */
export function parseScope(scope: string | null | undefined): string[] {
  if (!scope) return [];
  return [...new Set(scope.split(' ').filter((s) => s !== ''))];
}

/** Joins scope values with single spaces. */
export function formatScope(values: Iterable<string>): string {
  return [...values].join(' ');
}

/** The values of `requested` that `granted` does not hold. */
export function missingFrom(requested: string[], granted: string[]): string[] {
  const have = new Set(granted);
  return requested.filter((s) => !have.has(s));
}

/** True when the value is made of RFC 6749 section 3.3 scope-token characters and single spaces. */
export function isWellFormedScope(scope: string): boolean {
  return /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/.test(scope);
}
