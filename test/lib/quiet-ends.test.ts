import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import { Duplex, Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { quietRedundantEnds } from '../../lib/quiet-ends.js'

interface EndCalls {
  /** `end()` calls with nothing to write that reached Node's own `end` on a server-side stream already ending. */
  redundant: number
}

/** Counts, while the test runs, the `end()` calls that make Node build ERR_STREAM_ALREADY_FINISHED (or DESTROYED). */
function countEnds (t: Test, serverSide: (stream: object) => boolean): EndCalls {
  const calls: EndCalls = { redundant: 0 }
  for (const proto of [Writable.prototype, Duplex.prototype]) {
    const original = proto.end
    proto.end = function (this: Writable, ...args: unknown[]) {
      if (args.length === 0 && this.writableEnded && serverSide(this)) calls.redundant++
      return (original as (...a: unknown[]) => Writable).apply(this, args)
    } as typeof proto.end
    t.teardown(() => { proto.end = original })
  }
  return calls
}

// ws's frame parser knows its side; a TCP socket accepted by a server points at it
const isServerSide = (stream: object): boolean =>
  (stream as { _isServer?: boolean })._isServer === true || (stream as { server?: unknown }).server != null

async function wsPair (t: Test, quiet: boolean): Promise<{ server: WebSocket, client: WebSocket }> {
  const http: Server = createServer()
  const wss = new WebSocketServer({ server: http })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  t.teardown(async () => {
    wss.close()
    await new Promise((resolve) => http.close(resolve))
  })
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as { port: number }).port}`)
  const [[server]] = await Promise.all([accepted, once(client, 'open')])
  if (quiet) quietRedundantEnds(server!)
  return { server: server!, client }
}

for (const side of ['server', 'client'] as const) {
  t.test(`a close started by the ${side}: ws ends the server's streams again, and those calls stop early when quieted`, async (t) => {
    for (const quiet of [false, true]) {
      const calls = countEnds(t, isServerSide)
      const { server, client } = await wsPair(t, quiet)
      const closed = Promise.all([once(server, 'close'), once(client, 'close')])
      if (side === 'server') server.close(1000, 'bye')
      else client.close(4000, 'bye')
      const [[serverCode], [clientCode]] = await closed as [[number], [number]]
      t.equal(serverCode, side === 'server' ? 1000 : 4000, 'the server sees the close code')
      t.equal(clientCode, side === 'server' ? 1000 : 4000, 'the client sees the close code')
      if (quiet) t.equal(calls.redundant, 0, 'quieted: no redundant end() reaches Node')
      else t.ok(calls.redundant >= 2, `as ws is: ${calls.redundant} redundant end() calls`)
      t.equal(server.readyState, WebSocket.CLOSED)
    }
  })
}

/** What a stream shows through a life of `end()` calls: results, callbacks, errors and what it wrote. */
async function endings (stream: Writable, chunks: string[]): Promise<unknown[]> {
  const seen: unknown[] = []
  const errors: string[] = []
  stream.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message))
  const finished = once(stream, 'finish')
  seen.push(stream.end('last') === stream)
  await finished
  seen.push(stream.end() === stream, stream.writableFinished)
  seen.push(await new Promise((resolve) => stream.end((err?: NodeJS.ErrnoException | null) => resolve(err?.code ?? null))))
  seen.push(stream.end('more') === stream)
  await new Promise((resolve) => setImmediate(resolve))
  return [...seen, errors, chunks]
}

t.test('a stream quieted behaves through end() as Node\'s own does', async (t) => {
  const make = (): { stream: Writable, chunks: string[] } => {
    const chunks: string[] = []
    return { stream: new Writable({ write (chunk: Buffer, _encoding, callback) { chunks.push(chunk.toString()); callback() } }), chunks }
  }
  const plain = make()
  const quiet = make()
  quietRedundantEnds({ _receiver: quiet.stream } as unknown as WebSocket)
  t.not(quiet.stream.end, Writable.prototype.end, 'the stream got its own end')
  const expected = await endings(plain.stream, plain.chunks)
  t.same(await endings(quiet.stream, quiet.chunks), expected)
  // the callback form is not cut short: it still hears that the stream had finished
  t.equal(expected[3], 'ERR_STREAM_ALREADY_FINISHED')
  t.same(quiet.chunks, ['last'])
})

t.test('a corked stream already ending is still uncorked by end()', async (t) => {
  const stream = new Writable({ write (_chunk, _encoding, callback) { callback() } })
  quietRedundantEnds({ _receiver: stream } as unknown as WebSocket)
  stream.end()
  await once(stream, 'finish')
  stream.cork()
  stream.end()
  t.equal(stream.writableCorked, 0)
})

t.test('quieted streams share one prototype per class and hold no end of their own; quieting twice changes nothing', async (t) => {
  const streams = [new Writable(), new Writable()]
  for (const stream of streams) quietRedundantEnds({ _receiver: stream, _socket: null } as unknown as WebSocket)
  const quiet = Object.getPrototypeOf(streams[0]) as object
  t.not(quiet, Writable.prototype)
  t.equal(Object.getPrototypeOf(streams[1]), quiet, 'one prototype for the class')
  t.equal(Object.getPrototypeOf(quiet), Writable.prototype, 'right above the class\'s own')
  t.notOk(Object.hasOwn(streams[0]!, 'end'), 'no property per stream')
  quietRedundantEnds({ _receiver: streams[0] } as unknown as WebSocket)
  t.equal(Object.getPrototypeOf(streams[0]), quiet)
  t.ok(streams[0] instanceof Writable)
})

t.test('a socket without the expected internals is left alone', async (t) => {
  const socket = { _receiver: null, _socket: { end: 'not a function' } }
  quietRedundantEnds(socket as unknown as WebSocket)
  t.same(socket, { _receiver: null, _socket: { end: 'not a function' } })
})
