// Avro checker over avsc (an independent implementation) for the interop tests in
// tests/io/avro/e2e_avsc.py. Values use the same JSON as avro_tool: unions plain,
// bytes and fixed as strings of code points 0-255, longs as numbers.
//   node avro_check.cjs read IN.avro
//       prints {"codec", "meta" (every key, as latin1 strings), "schema" (avro.schema
//       parsed), "records"}
//   node avro_check.cjs write SCHEMA.avsc RECORDS.json OUT.avro CODEC [META.json]
// Exit 77 when avsc is not installed (scripts/checkers.sh installs it).
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const sourceDir = process.env.CN_SOURCE_DIR || path.resolve(__dirname, '..', '..')
const npmDir = process.env.CN_NPM_DIR || path.join(sourceDir, 'third_party', 'npm')
let avro
try {
  avro = require(path.join(npmDir, 'node_modules', 'avsc'))
} catch (e) {
  console.log(`SKIP: npm checker avsc not installed under ${npmDir} (run scripts/checkers.sh)`)
  process.exit(77)
}

// Longs as BigInt, so that 64-bit values (Iceberg snapshot ids) keep every digit.
const bigLong = avro.types.LongType.__with({
  fromBuffer: buf => buf.readBigInt64LE(),
  toBuffer: n => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: n => typeof n === 'bigint',
  compare: (a, b) => (a === b ? 0 : a < b ? -1 : 1)
})
const typeOf = schema => avro.Type.forSchema(schema, { registry: { long: bigLong } })

// JSON with integers of 16+ digits kept exact (as "__big__<digits>" until converted)
const parseExact = text => JSON.parse(text.replace(/([:\[,]\s*)(-?\d{16,})(?=\s*[,\]}])/g, '$1"__big__$2"'))
const printExact = obj => JSON.stringify(obj, (k, v) => (typeof v === 'bigint' ? `__big__${v}` : v))
  .replace(/"__big__(-?\d+)"/g, '$1')
const toBig = v => (typeof v === 'string' && v.startsWith('__big__') ? BigInt(v.slice(7)) : BigInt(v))

// plain JSON -> avsc value, guided by the type
function fromPlain(type, v) {
  const name = type.typeName
  if (name.startsWith('union')) {
    if (v === null) return null
    for (const b of type.types) {
      if (b.typeName === 'null') continue
      try {
        const c = fromPlain(b, v)
        if (b.isValid(c)) return name === 'union:wrapped' ? { [b.branchName]: c } : c
      } catch (e) { /* try the next branch */ }
    }
    throw new Error(`no branch of ${JSON.stringify(type.schema())} takes ${JSON.stringify(v)}`)
  }
  switch (name) {
    case 'bytes': case 'fixed': return Buffer.from(v, 'latin1')
    case 'abstract:long': return toBig(v)
    case 'long': return typeof v === 'string' ? Number(v.slice(7)) : v
    case 'record': case 'error': {
      const o = {}
      for (const f of type.fields) o[f.name] = fromPlain(f.type, v[f.name] === undefined ? null : v[f.name])
      return o
    }
    case 'array': return v.map(x => fromPlain(type.itemsType, x))
    case 'map': {
      const o = {}
      for (const k of Object.keys(v)) o[k] = fromPlain(type.valuesType, v[k])
      return o
    }
    default: return v
  }
}

// avsc value -> plain JSON
function toPlain(type, v) {
  const name = type.typeName
  if (name.startsWith('union')) {
    if (v === null) return null
    if (name === 'union:wrapped') {
      const k = Object.keys(v)[0]
      return toPlain(type.types.find(b => b.branchName === k), v[k])
    }
    const b = type.types.find(t => t.typeName !== 'null' && t.isValid(v))
    return toPlain(b, v)
  }
  switch (name) {
    case 'bytes': case 'fixed': return v.toString('latin1')
    case 'record': case 'error': {
      const o = {}
      for (const f of type.fields) o[f.name] = toPlain(f.type, v[f.name])
      return o
    }
    case 'array': return v.map(x => toPlain(type.itemsType, x))
    case 'map': {
      const o = {}
      for (const k of Object.keys(v)) o[k] = toPlain(type.valuesType, v[k])
      return o
    }
    case 'float': case 'double':
      if (Number.isNaN(v)) return 'NaN'
      if (v === Infinity) return 'Infinity'
      if (v === -Infinity) return '-Infinity'
      return v
    default: return v
  }
}

function read (file) {
  const out = { records: [] }
  let type
  avro.createFileDecoder(file, { parseHook: typeOf })
    .on('metadata', (t, codec, header) => {
      type = t
      out.codec = codec
      out.meta = {}
      for (const k of Object.keys(header.meta)) out.meta[k] = header.meta[k].toString('latin1')
      out.schema = JSON.parse(header.meta['avro.schema'].toString('utf8'))
    })
    .on('data', rec => out.records.push(toPlain(type, rec)))
    .on('error', e => { console.error(`avsc: ${file}: ${e.message}`); process.exit(1) })
    .on('end', () => process.stdout.write(printExact(out) + '\n'))
}

function write (schemaFile, recordsFile, outFile, codec, metaFile) {
  const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'))
  const type = typeOf(schema)
  const records = parseExact(fs.readFileSync(recordsFile, 'utf8'))
  const metadata = {}
  if (metaFile) {
    const m = JSON.parse(fs.readFileSync(metaFile, 'utf8'))
    for (const k of Object.keys(m)) metadata[k] = Buffer.from(m[k], 'utf8')
  }
  const enc = avro.createFileEncoder(outFile, type, { codec, metadata, blockSize: 256 })
  // the header is written on the first record from _schema when set: the raw schema
  // object, so its field-id attributes stay as given (avsc's own export may reorder)
  enc._schema = schema
  enc.on('error', e => { console.error(`avsc: ${outFile}: ${e.message}`); process.exit(1) })
  for (const r of records) enc.write(fromPlain(type, r))
  enc.end()
}

const [cmd, ...args] = process.argv.slice(2)
if (cmd === 'read' && args.length === 1) read(args[0])
else if (cmd === 'write' && args.length >= 4) write(...args)
else {
  console.error('usage: avro_check.cjs read IN | write SCHEMA RECORDS OUT CODEC [META]')
  process.exit(2)
}
