// Reads an Iceberg table with icebird (an independent JavaScript implementation) and
// prints its current snapshot's rows as JSON lines, sorted, for the end-to-end tests.
//   node icebird_read.mjs METADATA_URI [S3_ENDPOINT] [--entries]
// --entries prints the current snapshot's manifest entries instead, one JSON line each:
// {status, file_path, record_count, sort_order_id}, sorted.
// icebird reads through the global fetch. file:// locations are served by a tiny HTTP
// server started here (Range and HEAD included); s3:// locations, which icebird turns
// into https://BUCKET.s3.amazonaws.com/KEY, are sent to S3_ENDPOINT (path style).
// Values: int64 as numbers, timestamps as epoch milliseconds, missing values as null.
// Exit 77 when icebird is not installed (scripts/checkers.sh installs it).
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const { importChecker } = await import(path.join(here, '..', 'checkers', 'hyparquet_common.mjs'))
const { icebergRead, icebergManifests } = await importChecker('icebird')

const entriesMode = process.argv.includes('--entries')
const [metaUri, s3Endpoint] = process.argv.slice(2).filter(a => a !== '--entries')
if (!metaUri) {
  console.error('usage: node icebird_read.mjs METADATA_URI [S3_ENDPOINT]')
  process.exit(2)
}

const server = http.createServer((req, res) => {
  const file = decodeURIComponent(new URL(req.url, 'http://x').pathname)
  let st
  try { st = fs.statSync(file) } catch { res.writeHead(404); res.end(); return }
  const m = /bytes=(\d+)-(\d*)/.exec(req.headers.range || '')
  let start = 0, end = st.size - 1
  if (m) { start = Number(m[1]); if (m[2]) end = Math.min(Number(m[2]), end) }
  const headers = { 'Content-Length': String(end - start + 1), 'Accept-Ranges': 'bytes' }
  if (m) headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`
  res.writeHead(m ? 206 : 200, headers)
  if (req.method === 'HEAD') { res.end(); return }
  fs.createReadStream(file, { start, end }).pipe(res)
})
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
const port = server.address().port

const realFetch = globalThis.fetch
globalThis.fetch = (u, init) => {
  let url = String(u)
  if (url.startsWith('file://')) url = `http://127.0.0.1:${port}${url.slice(7)}`
  else if (s3Endpoint) url = url.replace(/^https:\/\/([^./]+)\.s3\.amazonaws\.com\//, `${s3Endpoint}/$1/`)
  return realFetch(url, init)
}

try {
  const metadata = await (await globalThis.fetch(metaUri.replace(/^s3:\/\/([^/]+)\//, 'https://$1.s3.amazonaws.com/'))).json()
  const plain = v => (typeof v === 'bigint' ? Number(v) : v instanceof Date ? v.getTime() : v === undefined ? null : v)
  const rows = entriesMode
    ? (await icebergManifests(metadata)).flatMap(m => m.entries).map(e => ({
        status: e.status, file_path: e.data_file.file_path, record_count: e.data_file.record_count,
        sort_order_id: e.data_file.sort_order_id }))
    : await icebergRead({ tableUrl: metadata.location, metadata })
  const lines = rows.map(r => JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, plain(v)]))))
  lines.sort()
  process.stdout.write(lines.join('\n') + (lines.length ? '\n' : ''))
} catch (e) {
  console.error(`icebird: ${e.stack || e}`)
  process.exitCode = 1
} finally {
  server.close()
}
