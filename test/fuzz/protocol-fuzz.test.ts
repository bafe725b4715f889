// Property-based fuzzing of the client protocol: thousands of hostile messages of each kind against a live server,
// each checked against what the protocol promises for it (one typed error, or an exact relay), across two rooms.
import { EventEmitter, once } from 'node:events'
import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { startServer, TestPeer, type TestServer } from '../helper.js'

const MAX_FRAME_BYTES = 64 * 1024
const ROOMS: Record<string, string[]> = { one: ['a', 'b', 'c'], two: ['x', 'y'] }
const ROOM_OF: Record<string, string> = { a: 'one', b: 'one', c: 'one', x: 'two', y: 'two' }
const PEERS = Object.keys(ROOM_OF)
const KNOWN_TYPES = ['offer', 'answer', 'candidate', 'bye', 'message', 'leave', 'ping', 'ice-servers']
const RELAY_TYPES = ['offer', 'answer', 'candidate', 'bye', 'message'] as const
const PROTO_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf']
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/

type Code = 'INVALID_MESSAGE' | 'UNKNOWN_TYPE' | 'PEER_NOT_FOUND'
interface Relay { type: string, recipients: string[], data: string | undefined }
/** One hostile (or, as control, valid) frame and what the protocol says must come of it. */
interface Case {
  sender: string
  frame: string | Uint8Array
  expect: { error: Code, id?: string | number, to?: string } | { relay: Relay }
}

const j = (value: unknown): string => JSON.stringify(value)
type Entry = readonly [string, string] | undefined | false
/** A JSON object text from raw value texts, in this key order (a JS object literal would eat `__proto__`). */
const obj = (entries: Entry[]): string => `{${entries.filter((e): e is readonly [string, string] => !!e).map(([k, v]) => `${j(k)}:${v}`).join(',')}}`
/** What the server reads: the client encodes the string as UTF-8. */
const wire = (text: string): string => Buffer.from(text).toString()
const parses = (text: string): boolean => { try { JSON.parse(wire(text)); return true } catch { return false } }
const isValidId = (id: unknown): id is string | number => (typeof id === 'string' && id.length <= 64) || Number.isInteger(id)
const othersOf = (peer: string): string[] => ROOMS[ROOM_OF[peer]!]!.filter((p) => p !== peer)

// ---- building blocks -------------------------------------------------------------------------------------------

const stringArb = (maxLength = 40) => fc.string({ unit: 'binary', maxLength })
const validIdArb: fc.Arbitrary<string | number> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 32 }), // at most 64 UTF-16 units
  fc.string({ unit: 'binary-ascii', minLength: 64, maxLength: 64 }),
  fc.integer(),
  fc.constantFrom(0, -1, 2 ** 53, -(2 ** 60), 1e21, ...PROTO_NAMES)
)
/** Raw JSON texts of ids the server must refuse (and so not echo). */
const badIdArb: fc.Arbitrary<string> = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)).map(j),
  fc.constantFrom('true', 'false', 'null', '[]', '{}', '[1]', '{"id":1}', '1.5', '-0.1', '1e-7'),
  fc.string({ unit: 'binary-ascii', minLength: 65, maxLength: 300 }).map(j),
  fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v === 'object' && v !== null).map(j)
)
const maybeId = fc.option(validIdArb, { nil: undefined })
const dataArb: fc.Arbitrary<string> = fc.jsonValue({ maxDepth: 3 }).map(j)
/** Raw JSON texts for a `to` that breaks its schema: not a string, or not a peer id. */
const badToArb: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'string').map(j),
  stringArb(80).filter((s) => !ID_RE.test(wire(s))).map(j),
  fc.constantFrom('""', j('b '), j(' b'), j('b\n'), j('ｂ'), j('b/../c'), j('x'.repeat(65)), j('b\u0000'), j('*'))
)
const nonStringArb: fc.Arbitrary<string> = fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'string').map(j)

/** A valid relayed message from `sender` (to one peer of its room, or a broadcast `message`). */
const relayArb = (sender: string, data: fc.Arbitrary<string> = dataArb) => fc.record({
  type: fc.constantFrom(...RELAY_TYPES),
  to: fc.constantFrom(...othersOf(sender)),
  broadcast: fc.boolean(),
  dropData: fc.boolean(),
  id: maybeId,
  data
}).map(({ type, to, broadcast, dropData, id, data }) => {
  const target = type === 'message' && broadcast ? undefined : to
  const payload = type === 'bye' && dropData ? undefined : data
  return {
    entries: [['type', j(type)], target !== undefined && ['to', j(target)], payload !== undefined && ['data', payload], id !== undefined && ['id', j(id)]] as Entry[],
    relay: { type, recipients: target === undefined ? othersOf(sender) : [target], data: payload }
  }
})

const relayCase = (sender: string, frame: string, relay: Relay): Case => ({ sender, frame, expect: { relay } })
const errorCase = (frame: string | Uint8Array, error: Code, id?: string | number, sender = 'a'): Case =>
  ({ sender, frame, expect: id === undefined ? { error } : { error, id } })
const notFound = (sender: string, frame: string, to: string, id?: string | number): Case =>
  ({ sender, frame, expect: { error: 'PEER_NOT_FOUND', to, ...(id === undefined ? {} : { id }) } })

/** The fields a well-formed message of each type carries, as raw JSON texts. */
const baseEntries = (type: string, data: string): Array<readonly [string, string]> => {
  switch (type) {
    case 'offer': case 'answer': case 'candidate': return [['to', j('b')], ['data', data]]
    case 'bye': return [['to', j('b')]]
    case 'message': return [['data', data]]
    default: return []
  }
}

// ---- the kinds of bad message ----------------------------------------------------------------------------------

const notJson: fc.Arbitrary<Case> = fc.oneof(
  // a valid message cut short: what a buggy client or a truncating proxy sends
  relayArb('a').chain(({ entries }) => {
    const text = obj(entries)
    return fc.integer({ min: 0, max: text.length - 1 }).map((k) => text.slice(0, k))
  }),
  stringArb(60),
  fc.constantFrom("{'type':'ping'}", '{"type":"ping",}', '{"type":"ping"}{"type":"ping"}', '\uFEFF{"type":"ping"}', 'NaN',
    '{type:"ping"}', '{"type":"ping"', '', ' ', '{"type":"offer","to":"b","data":undefined}', '{"type":"ping","id":0x10}',
    '{"type":"ping","id":01}', '{"type":"ping"}\u0000', '//\n{"type":"ping"}', '{"type":"ping","id":Infinity}',
    '{"type":"offer","to":"b","data":"\u0001"}', '{"type":"ping","id":1}}', '{"type":"p\\xing"}', '[', '{"__proto__":')
).filter((text) => !parses(text)).map((text) => errorCase(text, 'INVALID_MESSAGE'))

const notObject: fc.Arbitrary<Case> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map(j),
  // a valid message wrapped in an array, or several of them batched
  fc.array(relayArb('a'), { minLength: 1, maxLength: 3 }).map((list) => `[${list.map(({ entries }) => obj(entries)).join(',')}]`),
  fc.constantFrom('null', 'true', '0', '"offer"', '[]', '[{"type":"ping"}]', ' 1 ', '"{\\"type\\":\\"ping\\"}"')
).map((text) => errorCase(text, 'INVALID_MESSAGE'))

const wrongTypes: fc.Arbitrary<Case> = fc.record({
  type: fc.constantFrom(...KNOWN_TYPES),
  field: fc.constantFrom('type', 'to', 'id'),
  id: validIdArb,
  badType: nonStringArb,
  badTo: badToArb,
  badId: badIdArb,
  data: dataArb
}).map(({ type, field, id, badType, badTo, badId, data }) => {
  // `to` is an unknown (ignored) field of leave, ping and ice-servers: break their id instead
  const broken = field === 'to' && !['offer', 'answer', 'candidate', 'bye', 'message'].includes(type) ? 'id' : field
  const entries = new Map<string, string>([['type', j(type)], ...baseEntries(type, data), ['id', j(id)]])
  if (broken === 'type') entries.set('type', badType)
  if (broken === 'to') entries.set('to', badTo)
  if (broken === 'id') entries.set('id', badId)
  return errorCase(obj([...entries]), 'INVALID_MESSAGE', broken === 'id' ? undefined : id)
})

const unknownTypes: fc.Arbitrary<Case> = fc.record({
  type: fc.oneof(stringArb(80), fc.constantFrom('Offer', 'OFFER', 'offer ', ' offer', 'pong', 'welcome', 'error', 'peer-joined',
    'peer-left', 'room-closed', 'join', 'kick', '', 'ice_servers', 'offer\u0000', ...PROTO_NAMES)),
  id: fc.oneof(validIdArb.map(j), badIdArb),
  to: fc.oneof(fc.constantFrom('"b"', '"x"'), badToArb),
  data: fc.option(dataArb, { nil: undefined })
}).filter(({ type }) => !KNOWN_TYPES.includes(wire(type))).map(({ type, id, to, data }) => {
  const parsedId: unknown = JSON.parse(id)
  return errorCase(obj([['type', j(type)], ['to', to], data !== undefined && ['data', data], ['id', id]]), 'UNKNOWN_TYPE', isValidId(parsedId) ? parsedId : undefined)
})

const missingFields: fc.Arbitrary<Case> = fc.oneof({ arbitrary: fc.record({
  type: fc.constantFrom('offer', 'answer', 'candidate', 'bye', 'message'),
  drop: fc.subarray(['type', 'to', 'data'], { minLength: 1 }),
  id: maybeId,
  data: dataArb
}).filter(({ type, drop }) => drop.includes('type') || (type === 'bye' ? drop.includes('to') : type === 'message' ? drop.includes('data') : true))
  .map(({ type, drop, id, data }) => {
    const entries = [['type', j(type)], ['to', j('b')], ['data', data]] as const
    return errorCase(obj([...entries.filter(([k]) => !drop.includes(k)), id !== undefined && ['id', j(id)]]), 'INVALID_MESSAGE', id)
  }), weight: 10 }, { arbitrary: fc.constantFrom(errorCase('{}', 'INVALID_MESSAGE'), errorCase('{"id":"only-an-id"}', 'INVALID_MESSAGE', 'only-an-id')), weight: 1 })

/** Nested JSON text `depth` levels deep; shapes whose JSON round trip is byte-for-byte the same text. */
const deepText = (shape: 'array' | 'object' | 'mixed', depth: number, leaf: string): string => {
  switch (shape) {
    case 'array': return `${'['.repeat(depth)}${leaf === 'null' ? '' : leaf}${']'.repeat(depth)}`
    case 'object': return `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`
    case 'mixed': return `${'[{"k":'.repeat(depth)}${leaf}${'}]'.repeat(depth)}`
  }
}
/** Depth that keeps the text under ~62 KiB, so the whole frame fits in 64 KiB. */
const deepArb = fc.record({
  shape: fc.constantFrom('array' as const, 'object' as const, 'mixed' as const),
  // in thousandths of the deepest that fits; an integer shrinks in a few steps, where a double takes hundreds
  share: fc.integer({ min: 0, max: 1000 }),
  leaf: fc.constantFrom('1', '"deep"', 'null', 'true', '[]', '{}')
}).map(({ shape, share, leaf }) => {
  const perLevel = { array: 2, object: 6, mixed: 8 }[shape]
  const max = Math.floor(62 * 1024 / perLevel)
  return deepText(shape, Math.floor(1000 + share * (max - 1000) / 1000), leaf)
})

const deepNesting: fc.Arbitrary<Case> = fc.oneof(
  // deep data is data like any other: relayed unchanged
  relayArb('a', deepArb).map(({ entries, relay }) => relayCase('a', obj(entries), relay)),
  // deep values in an unknown field are ignored, never forwarded
  fc.tuple(relayArb('a'), deepArb, fc.constantFrom('extra', 'from', 'meta')).map(([{ entries, relay }, deep, key]) =>
    relayCase('a', obj([...entries, [key, deep]]), relay)),
  // ...but where the protocol wants a string or an id, it is refused
  fc.tuple(fc.constantFrom('type', 'to', 'id'), deepArb, validIdArb, dataArb).map(([field, deep, id, data]) => {
    const entries = new Map<string, string>([['type', j('offer')], ['to', j('b')], ['data', data], ['id', j(id)]])
    entries.set(field, deep)
    return errorCase(obj([...entries]), 'INVALID_MESSAGE', field === 'id' ? undefined : id)
  })
)

/** A string of `unit` repeated so that the frame built by `frame(s)` is `bytes` long or just under. */
function fill (unit: string, bytes: number, frame: (s: string) => string): string {
  const overhead = Buffer.byteLength(frame(''))
  const perUnit = Buffer.byteLength(frame(unit)) - overhead
  return unit.repeat(Math.max(0, Math.floor((bytes - overhead) / perUnit)))
}
const UNITS = ['x', 'é', '€', '😀', '"', '\n', '\u0001', '\\']
const nearLimitArb = fc.record({
  unit: fc.constantFrom(...UNITS),
  bytes: fc.oneof(fc.constant(MAX_FRAME_BYTES), fc.integer({ min: 60 * 1024, max: MAX_FRAME_BYTES }))
})

const hugeStrings: fc.Arbitrary<Case> = fc.oneof(
  // just under and exactly at the 64 KiB frame limit: relayed intact
  fc.tuple(relayArb('a'), nearLimitArb).map(([{ entries, relay }, { unit, bytes }]) => {
    const frame = (s: string) => obj([...entries.filter((e) => e && e[0] !== 'data'), ['data', j(s)]])
    const data = j(fill(unit, bytes, frame))
    return relayCase('a', obj([...entries.filter((e) => e && e[0] !== 'data'), ['data', data]]), { ...relay, data })
  }),
  // huge strings where the protocol wants a short one
  fc.tuple(fc.constantFrom('to', 'id', 'type'), nearLimitArb, validIdArb).map(([field, { unit, bytes }, id]) => {
    const make = (s: string) => {
      const entries = new Map<string, string>([['type', j('candidate')], ['to', j('b')], ['data', '1'], ['id', j(id)]])
      entries.set(field, j(s))
      return obj([...entries])
    }
    const huge = fill(unit, bytes, make)
    return errorCase(make(huge), field === 'type' ? 'UNKNOWN_TYPE' : 'INVALID_MESSAGE', field === 'id' ? undefined : id)
  })
)

/** JSON text built from a tree whose keys are mostly the names of prototype properties. */
const protoDataArb: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', maxDepth: 4, withCrossShrink: true },
    fc.oneof(fc.integer(), stringArb(10), fc.boolean(), fc.constant(null)).map(j),
    fc.array(tie('node'), { maxLength: 3 }).map((items) => `[${items.join(',')}]`),
    fc.uniqueArray(fc.tuple(fc.oneof(fc.constantFrom(...PROTO_NAMES), fc.constantFrom('a', 'polluted', 'isAdmin')), tie('node')),
      { maxLength: 4, selector: ([k]) => k }).map((entries) => obj(entries))
  )
})).node

const protoKeys: fc.Arbitrary<Case> = fc.oneof(
  // keys named after prototype properties, in data (kept, byte for byte) and at the top level (dropped)
  fc.tuple(relayArb('a', protoDataArb), fc.uniqueArray(fc.constantFrom(...PROTO_NAMES), { maxLength: 3 }), protoDataArb).map(
    ([{ entries, relay }, keys, value]) => relayCase('a', obj([...keys.map((k) => [k, value] as const), ...entries]), relay)),
  // a message hidden behind `__proto__` is not a message: own properties only
  fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), maybeId).map(([key, id]) =>
    errorCase(obj([[key, '{"type":"offer","to":"b","data":1}'], id !== undefined && ['id', j(id)]]), 'INVALID_MESSAGE', id)),
  fc.tuple(fc.constantFrom('__proto__', 'constructor'), maybeId).map(([key, id]) =>
    errorCase(obj([['type', j('offer')], ['data', '1'], [key, '{"to":"b"}'], id !== undefined && ['id', j(id)]]), 'INVALID_MESSAGE', id)),
  // a target or a type named after a prototype property is just an unknown one
  fc.tuple(fc.constantFrom(...PROTO_NAMES.filter((n) => ID_RE.test(n))), fc.constantFrom('offer', 'message', 'bye'), maybeId).map(([to, type, id]) =>
    notFound('a', obj([['type', j(type)], ['to', j(to)], ['data', '1'], id !== undefined && ['id', j(id)]]), to, id)),
  fc.tuple(fc.constantFrom(...PROTO_NAMES), maybeId).map(([type, id]) =>
    errorCase(obj([['type', j(type)], ['to', j('b')], ['data', '1'], id !== undefined && ['id', j(id)]]), 'UNKNOWN_TYPE', id))
)

const binaryFrames: fc.Arbitrary<Case> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  // perfectly good messages, including `leave` and `ping`, are still refused as binary frames
  fc.oneof(relayArb('a').map(({ entries }) => obj(entries)), fc.constantFrom('{"type":"leave"}', '{"type":"ping","id":1}', '{"type":"ice-servers"}'))
    .map((text) => new Uint8Array(Buffer.from(text)))
).map((bytes) => errorCase(bytes, 'INVALID_MESSAGE'))

const spoofedFrom: fc.Arbitrary<Case> = fc.constantFrom('a', 'b', 'x').chain((sender) => fc.oneof(
  // whatever the client says about itself, `from` is the token's peer and nothing else is forwarded
  fc.tuple(relayArb(sender), fc.oneof(fc.constantFrom(...PEERS, 'server', 'admin', '').map(j), nonStringArb),
    fc.subarray([['seq', '1'], ['peerId', '"b"'], ['roomId', '"two"'], ['room', '"two"'], ['sub', '"c"']] as Array<readonly [string, string]>), fc.boolean())
    .map(([{ entries, relay }, from, extra, first]) => relayCase(sender,
      obj(first ? [['from', from], ...extra, ...entries] : [...entries, ...extra, ['from', from]]), relay)),
  // a spoofed `from` does not rescue an invalid message
  fc.tuple(badToArb, validIdArb).map(([to, id]) =>
    errorCase(obj([['type', j('offer')], ['from', j(othersOf(sender)[0])], ['to', to], ['data', '1'], ['id', j(id)]]), 'INVALID_MESSAGE', id, sender))
))

const crossRoom: fc.Arbitrary<Case> = fc.constantFrom('a', 'c', 'x').chain((sender) => fc.oneof(
  // a target in the other room, oneself, or nobody at all
  fc.tuple(
    fc.oneof(fc.constantFrom(...PEERS.filter((p) => ROOM_OF[p] !== ROOM_OF[sender]), sender), fc.stringMatching(ID_RE).filter((p) => !PEERS.includes(p))),
    fc.constantFrom(...RELAY_TYPES), maybeId, dataArb
  ).map(([to, type, id, data]) => notFound(sender, obj([['type', j(type)], ['to', j(to)], ['data', data], id !== undefined && ['id', j(id)]]), to, id)),
  // a broadcast reaches the sender's room only
  relayArb(sender).filter(({ relay }) => relay.type === 'message').map(({ entries, relay }) => relayCase(sender, obj(entries), relay))
))

// ---- the world: two rooms of real peers, every frame they receive recorded raw ---------------------------------

interface World {
  peers: Map<string, TestPeer>
  raw: Map<string, string[]>
}

async function createWorld (server: TestServer): Promise<World> {
  const world: World = { peers: new Map(), raw: new Map() }
  for (const [roomId, members] of Object.entries(ROOMS)) {
    for (const peerId of members) {
      const peer = await server.join(roomId, peerId)
      const raw: string[] = []
      peer.socket.on('message', (data) => { raw.push(data.toString()) })
      world.peers.set(peerId, peer)
      world.raw.set(peerId, raw)
    }
  }
  await settleAll(world)
  clear(world)
  return world
}

function clear (world: World): void {
  for (const peer of world.peers.values()) peer.received.splice(0)
  for (const raw of world.raw.values()) raw.splice(0)
}

/**
 * Two rounds of ping/pong: after the first every sender's frames were handled, after the second every relay arrived.
 * An exception thrown in the server fails it at once (the socket it broke would never answer).
 */
async function settleAll (world: World, timeout = 3000): Promise<void> {
  const abort = new AbortController()
  const crashed = once(crashEvents, 'crash', { signal: abort.signal }).then(([message]: unknown[]) => {
    throw new Error(`the server threw: ${String(message)}`)
  }, () => {})
  try {
    for (let round = 0; round < 2; round++) {
      await Promise.race([crashed, Promise.all([...world.peers.values()].map(async (peer) => {
        peer.send({ type: 'ping' })
        await peer.next('pong', timeout)
      }))])
    }
  } finally {
    abort.abort()
  }
}

const SEQ_SUFFIX = /,"seq":\d+\}$/
/** A frame for a failure report: escaped, and cut in the middle when long. */
const short = (text: string | Uint8Array, escape = true): string => {
  const s = typeof text !== 'string' ? `<binary ${Buffer.from(text).toString('hex')}>` : escape ? j(text) : text
  return s.length > 160 ? `${s.slice(0, 120)}...(${s.length} chars)...${s.slice(-30)}` : s
}

/** Sends a batch and checks every peer's frames against the expectations; throws on the first difference. */
async function runBatch (world: World, cases: Case[]): Promise<void> {
  clear(world)
  for (const c of cases) world.peers.get(c.sender)!.socket.send(c.frame)
  await settleAll(world)
  const wantErrors = new Map<string, Array<{ error: Code, id?: string | number, to?: string, frame: string | Uint8Array }>>()
  const wantFrames = new Map<string, string[]>() // `${recipient}<${sender}`
  for (const c of cases) {
    if ('error' in c.expect) {
      wantErrors.set(c.sender, [...wantErrors.get(c.sender) ?? [], { ...c.expect, frame: c.frame }])
    } else {
      const { type, recipients, data } = c.expect.relay
      const frame = `{"type":${j(type)},"from":${j(c.sender)}${data === undefined ? '' : `,"data":${data}`}}`
      for (const r of recipients) wantFrames.set(`${r}<${c.sender}`, [...wantFrames.get(`${r}<${c.sender}`) ?? [], frame])
    }
  }
  for (const [peerId, raw] of world.raw) {
    const errors: Array<Record<string, unknown>> = []
    const frames = new Map<string, string[]>()
    let pongs = 0
    for (const text of raw) {
      const message = JSON.parse(text) as Record<string, unknown>
      if (message.type === 'pong') pongs++
      else if (message.type === 'error') errors.push(message)
      else if (typeof message.from === 'string' && (RELAY_TYPES as readonly string[]).includes(message.type as string)) {
        if (!SEQ_SUFFIX.test(text)) throw new Error(`${peerId} got a relayed frame without a trailing seq: ${short(text)}`)
        const key = `${peerId}<${message.from}`
        frames.set(key, [...frames.get(key) ?? [], text.replace(SEQ_SUFFIX, '}')])
      } else throw new Error(`${peerId} got an unexpected frame ${short(text)}`)
    }
    if (pongs !== 2) throw new Error(`${peerId}: ${pongs} pongs for 2 pings`)
    const want = wantErrors.get(peerId) ?? []
    if (errors.length !== want.length) {
      throw new Error(`${peerId} got ${errors.length} errors for ${want.length} bad messages: ${errors.slice(0, 5).map((e) => j(e).slice(0, 200)).join(' ')}`)
    }
    want.forEach((w, i) => {
      const { seq: _seq, ...got } = errors[i]!
      const keys = Object.keys(got).sort().join(',')
      const ok = got.code === w.error && got.id === w.id && typeof got.message === 'string' &&
        keys === (w.id === undefined ? 'code,message,type' : 'code,id,message,type') &&
        (w.to === undefined || got.message === `Peer ${w.to} not found`)
      if (!ok) throw new Error(`${peerId}: for ${short(w.frame)} expected ${w.error} id=${j(w.id)}, got ${j(got).slice(0, 300)}`)
    })
    for (const key of new Set([...frames.keys(), ...wantFrames.keys()].filter((k) => k.startsWith(`${peerId}<`)))) {
      const got = frames.get(key) ?? []
      const exp = wantFrames.get(key) ?? []
      if (got.length !== exp.length) throw new Error(`${key}: ${got.length} frames delivered, ${exp.length} expected; first ${short(got[0] ?? exp[0] ?? '')}`)
      exp.forEach((e, i) => { if (got[i] !== e) throw new Error(`${key}: frame ${i} is ${short(got[i]!)}, expected ${short(e)}`) })
    }
  }
  for (const peer of world.peers.values()) {
    if (peer.seqGaps.length > 0) throw new Error(`seq gaps ${j(peer.seqGaps)}`)
  }
}

// ---- the tests -------------------------------------------------------------------------------------------------

// the server runs in this process: anything thrown out of a listener or left unhandled shows up here
const crashes: string[] = []
const crashEvents = new EventEmitter()
const onCrash = (err: unknown): void => {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  crashes.push(message)
  crashEvents.emit('crash', message)
}
process.on('uncaughtException', onCrash)
process.on('unhandledRejection', onCrash)
t.teardown(() => {
  process.off('uncaughtException', onCrash)
  process.off('unhandledRejection', onCrash)
})

// no per-peer rate limit (it would answer RATE_LIMITED mid-batch: tested in hardening/limits), no upgrade limit (the
// test reconnects often), and room for the relays to pile up unread while the same process is busy sending
const SERVER_OPTIONS = { messageRate: false as const, requestRate: { upgrades: false as const }, maxBufferedBytes: 256 * 1024 * 1024 }

/** After a fuzz run, every pair of peers still relays normally: an offer/answer round trip in each room. */
async function assertStillRelaying (t: Test, world: World): Promise<void> {
  for (const [caller, callee] of [['a', 'b'], ['c', 'a'], ['x', 'y']] as const) {
    const from = world.peers.get(caller)!
    const to = world.peers.get(callee)!
    from.send({ type: 'offer', to: callee, data: { sdp: 'v=0 after the fuzz' } })
    t.same(await to.next('offer'), { type: 'offer', from: caller, data: { sdp: 'v=0 after the fuzz' } }, `${caller} -> ${callee} offer`)
    to.send({ type: 'answer', to: caller, data: { sdp: 'v=0 answer' } })
    t.same(await from.next('answer'), { type: 'answer', from: callee, data: { sdp: 'v=0 answer' } }, `${callee} -> ${caller} answer`)
  }
}

const KINDS: Array<[name: string, arb: fc.Arbitrary<Case>, runs: number, batch: number]> = [
  ['invalid JSON', notJson, 60, 60],
  ['JSON that is not an object', notObject, 50, 60],
  ['wrong type per field (type, to, id)', wrongTypes, 60, 60],
  ['unknown type', unknownTypes, 50, 60],
  ['missing fields', missingFields, 50, 60],
  ['deep nesting (data relayed; to/type/id refused)', deepNesting, 40, 16],
  ['huge strings up to the 64 KiB frame limit', hugeStrings, 40, 16],
  ['__proto__ / constructor / prototype keys', protoKeys, 50, 60],
  ['binary frames', binaryFrames, 50, 60],
  ['spoofed from and server fields', spoofedFrom, 50, 60],
  ['a peer of another room, oneself or nobody as target', crossRoom, 50, 60]
]

let totalCases = 0
for (const [name, arb, runs, batch] of KINDS) {
  t.test(`fuzz: ${name}: each answered as the protocol says, nothing crosses rooms, no crash`, async (t) => {
    const server = await startServer(t, SERVER_OPTIONS)
    for (const roomId of Object.keys(ROOMS)) await server.createRoom({ roomId })
    let world = await createWorld(server)
    let dirty = false
    let cases = 0
    let batches = 0
    const outcomes = new Map<string, number>()
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort().join()
    const started = performance.now()
    const result = await fc.check(fc.asyncProperty(fc.array(arb, { minLength: 1, maxLength: batch, size: 'max' }), async (list) => {
      // a failed batch may leave frames in flight or a socket stuck: start the next one from fresh peers
      if (dirty) world = await createWorld(server)
      dirty = true
      cases += list.length
      batches++
      for (const c of list) {
        const outcome = 'error' in c.expect ? c.expect.error : 'relayed'
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
      }
      await runBatch(world, list)
      dirty = false
    }), { numRuns: runs, interruptAfterTimeLimit: 25_000 })
    totalCases += cases
    t.comment(`${name}: ${cases} cases in ${batches} batches (${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}); ` +
      `${result.numRuns} of ${runs} runs${result.interrupted ? ' (cut short by the 25 s limit)' : ''} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    if (result.failed) {
      const example = result.counterexample?.[0]
      t.fail(`counterexample after ${result.numRuns} runs (seed ${result.seed}, path ${result.counterexamplePath}): ` +
        `${String((result.errorInstance as Error | undefined)?.message ?? result.errorInstance)}\n` +
        (example === undefined ? '' : example.map((c) => `  ${c.sender}: ${short(c.frame)} -> ${short(j(c.expect), false)}`).join('\n')))
    } else {
      t.ok(result.numRuns >= runs * 0.5, `${result.numRuns} batches passed`)
    }
    t.same([...new Set(crashes.splice(0))], [], 'no uncaught exception and no unhandled rejection in the server process')
    t.equal(Object.getOwnPropertyNames(Object.prototype).sort().join(), prototypeBefore, 'Object.prototype untouched')
    t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
    if (dirty) world = await createWorld(server)
    clear(world)
    await assertStillRelaying(t, world)
  })
}

t.test('fuzz: frames over 64 KiB close the sender with 1009; its room sees it leave, nothing is delivered', async (t) => {
  const server = await startServer(t, SERVER_OPTIONS)
  for (const roomId of Object.keys(ROOMS)) await server.createRoom({ roomId })
  const b = await server.join('one', 'b')
  const x = await server.join('two', 'x')
  let n = 0
  const result = await fc.check(fc.asyncProperty(fc.record({
    unit: fc.constantFrom(...UNITS),
    bytes: fc.oneof(fc.constant(MAX_FRAME_BYTES + 1), fc.integer({ min: MAX_FRAME_BYTES + 1, max: 100 * 1024 })),
    field: fc.constantFrom('data', 'to', 'id', 'type', 'extra')
  }), async ({ unit, bytes, field }) => {
    const peerId = `m${++n}`
    const mallory = await server.join('one', peerId)
    const make = (s: string) => obj([...new Map([['type', j('offer')], ['to', j('b')], ['data', '1'], ['id', '1'], [field, j(s)]])])
    let frame = make(fill(unit, bytes, make))
    // `fill` stays at or under `bytes`: one more unit takes the frame over the limit
    while (Buffer.byteLength(frame) <= MAX_FRAME_BYTES) frame = make(fill(unit, bytes, make) + unit)
    mallory.socket.send(frame)
    const closed = await mallory.closed
    if (closed.code !== 1009) throw new Error(`${Buffer.byteLength(frame)} bytes: closed with ${closed.code}, not 1009`)
    const joined = await b.next('peer-joined', 3000)
    const left = await b.next('peer-left', 3000)
    if (j(joined) !== j({ type: 'peer-joined', peer: { peerId, metadata: {} } })) throw new Error(`b got ${j(joined)}`)
    if (j(left) !== j({ type: 'peer-left', peerId, reason: 'disconnected' })) throw new Error(`b got ${j(left)}`)
    await b.settle()
    await x.settle()
    if (b.received.length + x.received.length > 0) throw new Error(`delivered: ${j([...b.received, ...x.received]).slice(0, 300)}`)
  }), { numRuns: 30, interruptAfterTimeLimit: 20_000 })
  totalCases += n
  t.comment(`over the limit: ${n} frames of 64 KiB + 1 byte to 100 KiB (ASCII, 2-, 3- and 4-byte UTF-8, escapes), each closed with 1009`)
  t.notOk(result.failed, result.failed ? `seed ${result.seed}: ${String((result.errorInstance as Error | undefined)?.message)}` : 'each closed with 1009')
  t.same(crashes.splice(0), [], 'no uncaught exception and no unhandled rejection in the server process')
  const b2 = await server.join('one', 'b2')
  b.send({ type: 'offer', to: 'b2', data: 'still relaying' })
  t.same(await b2.next('offer'), { type: 'offer', from: 'b', data: 'still relaying' })
})

t.test('data nested thousands deep is relayed unchanged, and the sender keeps its socket', async (t) => {
  const server = await startServer(t, SERVER_OPTIONS)
  for (const roomId of Object.keys(ROOMS)) await server.createRoom({ roomId })
  const world = await createWorld(server)
  const cases = [
    relayCase('a', `{"type":"offer","to":"b","data":${deepText('array', 5000, '1')}}`, { type: 'offer', recipients: ['b'], data: deepText('array', 5000, '1') }),
    relayCase('a', `{"type":"message","data":${deepText('object', 10_000, '"x"')}}`, { type: 'message', recipients: ['b', 'c'], data: deepText('object', 10_000, '"x"') }),
    relayCase('a', `{"type":"candidate","to":"c","data":${deepText('array', 32_000, 'null')}}`, { type: 'candidate', recipients: ['c'], data: deepText('array', 32_000, 'null') })
  ]
  await t.resolves(runBatch(world, cases), '5,000 and 32,000 nested arrays and 10,000 nested objects, relayed byte for byte')
  t.comment(`3 frames of ${cases.map((c) => `${(Buffer.byteLength(c.frame as string) / 1024).toFixed(1)} KiB`).join(', ')} nested 5,000, 10,000 and 32,000 deep: relayed unchanged, sender still connected`)
  t.equal(world.peers.get('a')!.socket.readyState, world.peers.get('a')!.socket.OPEN, 'the sender keeps its socket')
  t.same([...new Set(crashes.splice(0))], [], 'no uncaught exception in the server process')
})

t.test('fuzz total', async (t) => {
  t.comment(`${totalCases} hostile and control messages in total over ${KINDS.length + 1} kinds`)
  t.ok(totalCases >= 5000, 'thousands of cases')
})
