'use strict';
// Command-line flags for the benchmark scripts: `--name value`, `--flag`
// (true) and `--no-flag` (false). Each script declares its defaults, so a
// misspelt flag is an error instead of a silently ignored setting.

/**
 * @param {string[]} argv process.argv.slice(2)
 * @param {Record<string, string|number|boolean>} defaults flag name -> default value (its type is the flag's type)
 * @returns {Record<string, string|number|boolean>}
 */
function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}'`);
    let name = arg.slice(2);
    let value;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    let negated = false;
    if (!(name in defaults) && name.startsWith('no-') && typeof defaults[name.slice(3)] === 'boolean') {
      name = name.slice(3);
      negated = true;
    }
    if (!(name in defaults)) {
      throw new Error(`unknown flag --${name}; known: ${Object.keys(defaults).map((k) => '--' + k).join(' ')}`);
    }
    const kind = typeof defaults[name];
    if (kind === 'boolean') {
      out[name] = negated ? false : value === undefined ? true : value !== 'false';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
    }
    if (kind === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`--${name} takes a number, got '${value}'`);
      out[name] = n;
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** A comma-separated flag value as a list (an empty string gives an empty list). */
function list(value) {
  return String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

module.exports = { parseArgs, list };
