// Starts CongoDB, a MongoDB wire-protocol server written in JavaScript (from npm
// @push.rocks/smartmongo, installed by scripts/checkers.sh under third_party/npm/congodb),
// so the MongoDB backend of the online store is tested against a real server process.
//   node mongo_server.mjs PORT [--lifeline]   PORT 0 picks a free port
// Listens on 127.0.0.1. Prints "ready <port>" on stdout once it accepts connections;
// stops on SIGTERM/SIGINT, and with --lifeline also when its stdin closes (so a test that
// dies, even in a crash, never leaves a server behind).
// Data lives in memory only. Exit 77 when CongoDB is not installed.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const entry = path.join(here, '..', '..', 'third_party', 'npm', 'congodb', 'congodb', 'index.js')
if (!fs.existsSync(entry)) {
  console.log('SKIP: CongoDB not installed (run scripts/checkers.sh)')
  process.exit(77)
}
const port = Number(process.argv[2] ?? '0')
const host = '127.0.0.1'
const lifeline = process.argv.includes('--lifeline')
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`mongo_server: port "${process.argv[2]}" is not a port number (0..65535)`)
  process.exit(2)
}
const { CongoServer, ObjectId, Long } = await import(pathToFileURL(entry).href)
// CongoDB answers every hello with a new topologyVersion and at once, also an awaitable
// one (topologyVersion and maxAwaitTimeMS given); a pooled libmongoc client's monitor
// then sends hellos in a loop (hundreds a second, about a tenth of the server's CPU
// time, charged to whatever the pool's users do meanwhile). A real mongod keeps its
// topologyVersion and holds an awaitable hello for maxAwaitTimeMS while nothing changes;
// this server keeps one and holds it for 1 s at most (one hello a second): the client
// waits for the reply only connectTimeoutMS longer than maxAwaitTimeMS, and a timer of
// the whole maxAwaitTimeMS came late whenever a long scan held the event loop (then the
// monitor marked the server unknown and requests failed to select it).
const { HelloHandler } = await import(
  pathToFileURL(path.join(path.dirname(entry), 'server', 'handlers', 'HelloHandler.js')).href)
const topologyVersion = { processId: new ObjectId(), counter: Long.fromNumber(0) }
const hello = HelloHandler.prototype.handle
HelloHandler.prototype.handle = async function (context) {
  const reply = await hello.call(this, context)
  reply.topologyVersion = topologyVersion
  const { command } = context
  if (command.topologyVersion && command.maxAwaitTimeMS !== undefined) {
    const ms = Math.min(Number(command.maxAwaitTimeMS) / 2, 1000)
    await new Promise((resolve) => setTimeout(resolve, ms).unref())
  }
  return reply
}
const server = new CongoServer({ port, host })
try {
  await server.start()
} catch (e) {
  console.error(`mongo_server: cannot listen on ${host}:${port}: ${e.message}`)
  process.exit(1)
}
// CongoServer keeps its net.Server in a field; with PORT 0 the kernel chose the port.
const bound = server.server?.address?.()?.port ?? port
console.log(`ready ${bound}`)
let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await server.stop()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
if (lifeline) {
  process.stdin.on('end', stop)
  process.stdin.on('error', stop)
  process.stdin.resume()
}
