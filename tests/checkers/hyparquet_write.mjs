// Writes a Parquet file with hyparquet-writer (an independent JavaScript
// implementation; it writes DATA_PAGE_V2 pages) from a JSON spec, for tests that check
// that we read other writers' files.
//   node hyparquet_write.mjs SPEC.json OUT.parquet
// SPEC: {"codec": "SNAPPY"|"UNCOMPRESSED"|"GZIP", "rowGroupSize": n, "pageSize": n,
//        "schema": [SchemaElement...] (optional, for nested columns),
//        "columns": [{"name", "type", "nullable", "encoding", "int64": bool, "data": [...]}]}
// INT64 and TIMESTAMP data (and any column with "int64": true, recursively) may be
// given as numbers or decimal strings; they become BigInt. BYTE_ARRAY data are strings
// whose char codes are the bytes.
import fs from 'node:fs'
import zlib from 'node:zlib'
import { importChecker } from './hyparquet_common.mjs'

const [specPath, outPath] = process.argv.slice(2)
if (!specPath || !outPath) {
  console.error('usage: node hyparquet_write.mjs SPEC.json OUT.parquet')
  process.exit(2)
}
const hw = await importChecker('hyparquet-writer')
const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'))

function big(v) {
  if (v === null || v === undefined) return v
  if (Array.isArray(v)) return v.map(big)
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, big(x)]))
  return typeof v === 'number' || typeof v === 'string' ? BigInt(v) : v
}

const columnData = spec.columns.map(c => {
  let data = c.data
  if (c.type === 'INT64' || c.type === 'TIMESTAMP' || c.int64) data = data.map(big)
  if (c.type === 'BYTE_ARRAY') data = data.map(v => v === null ? null : Uint8Array.from(v, ch => ch.charCodeAt(0)))
  const col = { name: c.name, data }
  if (c.type && !spec.schema) col.type = c.type
  if (c.nullable !== undefined && !spec.schema) col.nullable = c.nullable
  if (c.encoding) col.encoding = c.encoding
  return col
})
const opts = { columnData, codec: spec.codec || 'SNAPPY' }
if (spec.rowGroupSize) opts.rowGroupSize = spec.rowGroupSize
if (spec.pageSize) opts.pageSize = spec.pageSize
if (spec.schema) opts.schema = spec.schema
// Node's zlib gives GZIP; hyparquet-writer has SNAPPY and UNCOMPRESSED itself.
opts.compressors = { GZIP: b => new Uint8Array(zlib.gzipSync(b)) }

const tmp = outPath + '.tmp'
try {
  const bytes = hw.parquetWriteBuffer(opts)
  fs.writeFileSync(tmp, new Uint8Array(bytes))
  fs.renameSync(tmp, outPath)
} catch (e) {
  try { fs.unlinkSync(tmp) } catch {}
  console.error(`hyparquet-writer: ${outPath}: ${e.message}`)
  process.exit(1)
}
