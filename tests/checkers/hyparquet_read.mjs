// Reads a Parquet file with hyparquet (an independent JavaScript implementation) and
// prints it for tests to compare with DuckDB and with `chronon parquet cat`.
//   node hyparquet_read.mjs FILE            one JSON object per row
//   node hyparquet_read.mjs --meta FILE     one JSON object: rows, row groups, and per
//                                           column chunk its codec, encodings, null count
// Exit 1 with one line on stderr when hyparquet rejects the file; 77 when not installed.
import fs from 'node:fs'
import { importChecker, toJson } from './hyparquet_common.mjs'

const args = process.argv.slice(2)
const meta = args[0] === '--meta'
const file = meta ? args[1] : args[0]
if (!file) {
  console.error('usage: node hyparquet_read.mjs [--meta] FILE')
  process.exit(2)
}
const hp = await importChecker('hyparquet')
const { compressors } = await importChecker('hyparquet-compressors')

const buf = fs.readFileSync(file)
const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
// Raw numbers for temporal types, so values compare exactly across checkers.
const parsers = {
  timestampFromMilliseconds: v => v,
  timestampFromMicroseconds: v => v,
  timestampFromNanoseconds: v => v,
  dateFromDays: v => v,
}
try {
  const md = hp.parquetMetadata(ab, { parsers })
  if (meta) {
    const out = {
      num_rows: Number(md.num_rows),
      created_by: md.created_by,
      row_groups: md.row_groups.map(rg => ({
        num_rows: Number(rg.num_rows),
        columns: rg.columns.map(c => ({
          path: c.meta_data.path_in_schema.join('.'),
          type: c.meta_data.type,
          codec: c.meta_data.codec,
          encodings: c.meta_data.encodings,
          num_values: Number(c.meta_data.num_values),
          null_count: c.meta_data.statistics?.null_count === undefined ? null : Number(c.meta_data.statistics.null_count),
          min: c.meta_data.statistics?.min_value ?? null,
          max: c.meta_data.statistics?.max_value ?? null,
        })),
      })),
    }
    process.stdout.write(toJson(out) + '\n')
  } else {
    const rows = await hp.parquetReadObjects({ file: ab, metadata: md, compressors, parsers, utf8: false })
    const lines = rows.map(r => toJson(r))
    process.stdout.write(lines.length ? lines.join('\n') + '\n' : '')
  }
} catch (e) {
  console.error(`hyparquet: ${file}: ${e.message}`)
  process.exit(1)
}
