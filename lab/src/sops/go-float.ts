// Go's float formatting as sops meets it: strconv.FormatFloat 'f' (what sops hashes and encrypts)
// and 'g' (what yaml.v3 emits), both with the shortest digits that round-trip.

function shortestDigits(n: number): { neg: boolean; digits: string; exp: number } {
  const [mant, e] = Math.abs(n).toExponential().split('e');
  return { neg: n < 0, digits: mant!.replace('.', ''), exp: Number(e) };
}

function fixedFromDigits(digits: string, exp: number): string {
  const dp = exp + 1;
  if (dp <= 0) return `0.${'0'.repeat(-dp)}${digits}`;
  if (dp >= digits.length) return digits + '0'.repeat(dp - digits.length);
  return `${digits.slice(0, dp)}.${digits.slice(dp)}`;
}

/** strconv.FormatFloat(f, 'f', -1, 64): what sops hashes and encrypts for floats. */
export function goFormatFloatF(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const { neg, digits, exp } = shortestDigits(n);
  return (neg ? '-' : '') + fixedFromDigits(digits, exp);
}

/** strconv.FormatFloat(f, 'g', -1, 64) as yaml.v3 emits floats. */
export function yamlFloat(n: number): string {
  if (Number.isNaN(n)) return '.nan';
  if (!Number.isFinite(n)) return n > 0 ? '.inf' : '-.inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const { neg, digits, exp } = shortestDigits(n);
  let body: string;
  if (exp < -4 || exp >= 6) {
    const e = Math.abs(exp);
    body = `${digits[0]}${digits.length > 1 ? '.' + digits.slice(1) : ''}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
  } else body = fixedFromDigits(digits, exp);
  return (neg ? '-' : '') + body;
}
