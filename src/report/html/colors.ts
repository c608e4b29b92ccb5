// Colors of the report's charts: one per shown version (the current one first), one per data split.
export const VERSION_COLORS = ['#0969da', '#bf8700', '#8250df', '#1a7f37', '#cf222e', '#57606a'];
export const SPLIT_COLORS: Record<string, string> = { train: '#0969da', valid: '#bf8700' };

export function versionColor(i: number): string {
  return VERSION_COLORS[i % VERSION_COLORS.length];
}
