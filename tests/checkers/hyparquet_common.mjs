// Shared by the hyparquet checker scripts: where the npm checkers live and how values
// print. Values print as JSON exactly as duckdb_tool and `chronon parquet cat --format
// json` print them: int64 as integers (no precision loss), timestamps and dates as raw
// numbers in their unit, binary as a string of its bytes, maps as objects.
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const sourceDir = process.env.CN_SOURCE_DIR || path.resolve(here, '..', '..')
export const npmDir = process.env.CN_NPM_DIR || path.join(sourceDir, 'third_party', 'npm')

// Import a package installed by scripts/checkers.sh; exits 77 (skip) when absent.
export async function importChecker(name, sub = '') {
  const entry = path.join(npmDir, 'node_modules', name)
  try {
    const pkg = JSON.parse(await (await import('node:fs')).promises.readFile(path.join(entry, 'package.json'), 'utf8'))
    const exp = pkg.exports?.['.']
    let main = pkg.module || pkg.main || 'src/index.js'
    if (exp) main = exp.import?.default || exp.import || exp.default || exp.node?.default || exp.browser?.default || main
    if (typeof main !== 'string') main = 'src/index.js'
    return await import(path.join(entry, sub || main))
  } catch (e) {
    console.log(`SKIP: npm checker ${name} not installed under ${npmDir} (run scripts/checkers.sh): ${e.message}`)
    process.exit(77)
  }
}

function jsonBytes(u8) {
  let s = '"'
  for (const c of u8) {
    if (c === 0x22) s += '\\"'
    else if (c === 0x5c) s += '\\\\'
    else if (c < 0x20 || c >= 0x7f) s += '\\u' + c.toString(16).padStart(4, '0')
    else s += String.fromCharCode(c)
  }
  return s + '"'
}

export function toJson(v) {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return '"NaN"'
    if (!Number.isFinite(v)) return v > 0 ? '"Infinity"' : '"-Infinity"'
    return JSON.stringify(v)
  }
  if (typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v)
  if (v instanceof Uint8Array) return jsonBytes(v)
  if (v instanceof Date) return String(v.getTime())
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return '[' + Array.from(v, toJson).join(',') + ']'
  if (v instanceof Map) return '{' + [...v].map(([k, x]) => JSON.stringify(typeof k === 'string' ? k : toJson(k)) + ':' + toJson(x)).join(',') + '}'
  if (typeof v === 'object') return '{' + Object.entries(v).map(([k, x]) => JSON.stringify(k) + ':' + toJson(x)).join(',') + '}'
  throw new Error('unprintable value of type ' + typeof v)
}
