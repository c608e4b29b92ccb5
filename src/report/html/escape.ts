// HTML escaping and number formatting shared by the report's renderers.

export function esc(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A short human form of a number: 4 significant digits, no exponent for ordinary magnitudes. */
export function fmt(v: unknown, digits = 4): string {
  if (typeof v !== 'number') return v === undefined || v === null ? '–' : String(v);
  if (!Number.isFinite(v)) return '–';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(2);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(digits)));
}

/** The id of a stage's section (graph nodes link to it). */
export function anchor(stage: string): string {
  return `stage-${stage}`;
}
