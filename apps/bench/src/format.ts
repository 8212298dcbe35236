// Number formatting for reports: locale-independent, so reports diff cleanly.

/** 1234567.8 -> '1,234,568'; small values keep three significant digits. */
export function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a === 0) return '0';
  if (Number.isInteger(x)) return String(x);
  return Number(x.toPrecision(3)).toString();
}

/** Seconds as 'NNN ms' below 1 s, 'N.NN s' above. */
export function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return String(s);
  return s < 1 ? `${fmtNum(s * 1000)} ms` : `${s.toFixed(2)} s`;
}

/** Sizes in MiB as '64 MiB' / '1 GiB'. */
export function fmtMiB(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}

/** A unit with its plural for counts ('page' -> 'pages'); units of size stay as they are ('MiB'). */
export function unitPlural(unit: string): string {
  return /^([KMGT]i)?B$/.test(unit) || unit.endsWith('s') ? unit : `${unit}s`;
}

/** The unit of a throughput of `unit`: 'pages/s', 'MiB/s'. */
export function perSecond(unit: string): string {
  return `${unitPlural(unit)}/s`;
}
