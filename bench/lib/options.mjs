// The numeric command-line options of the bench's scripts, each within its bounds.
import { parseArgs } from 'node:util';

/**
 * Parses `--name value` options, each given as `name: [least, most, default]`, and returns their numbers (by name).
 * A value that is not a number within its bounds prints the script's usage and exits with status 2.
 */
export function numericOptions(script, spec) {
  const options = Object.fromEntries(Object.entries(spec).map(([name, [, , fallback]]) => [name, { type: 'string', default: String(fallback) }]));
  const { values } = parseArgs({ options });
  const out = {};
  for (const [name, [least, most]] of Object.entries(spec)) {
    const n = Number(values[name]);
    if (!(n >= least && n <= most)) {
      console.error(`${script}: ${Object.entries(spec).map(([k, [lo, hi]]) => `--${k} ${String(lo)}..${String(hi)}`).join(', ')}`);
      process.exit(2);
    }
    out[name] = n;
  }
  return out;
}
