// The y-webrtc protocol (y-webrtc 10's client and its `bin/server.js`) translated to the relay's: a topic is a room,
// and each topic a connection subscribes to is one session of the relay, served through a RelaySocket.
import { errorMessage, isSignallingError, type ErrorCode } from '../errors.js'
import { ID_PATTERN, MAX_FRAME_BYTES } from '../protocol.js'
import { RelaySocket } from '../relay-socket.js'
import type { WebSocket } from 'ws'

/** Topics one connection may be subscribed to at once (the reference has no limit; a y-webrtc client takes one per document). */
export const MAX_TOPICS = 32
/** A publish is wrapped for the relay in a few bytes of its own: the relay's frame limit must still hold. */
export const MAX_PUBLISH_BYTES = MAX_FRAME_BYTES - 256
/** Publishes a topic holds while its session is being admitted; the client sends its `announce` right after `subscribe`. */
const EARLY_PUBLISHES = 16
/** The reference server's keepalive: a ping every 30 s, closed when the previous one got no pong. */
export const DEFAULT_PING_INTERVAL = 30_000

/** An endpoint's path: segments of A-Z a-z 0-9 . _ ~ -, not `/`. */
export const Y_WEBRTC_PATH = /^(\/[A-Za-z0-9._~-]+)+$/

const TOPIC = new RegExp(ID_PATTERN)
export const isTopic = (topic: unknown): topic is string => typeof topic === 'string' && TOPIC.test(topic)

/** Codes the relay closes a session with that end the whole connection, not just the topic: they are about the client. */
const CONNECTION_ENDING = new Set([1009, 1011, 1012, 1013, 4429])

/** Why the relay ended a topic's session, told in `error` with the topic. */
const CLOSE_REASONS: Record<number, { code: string, message: string }> = {
  1009: { code: 'INVALID_MESSAGE', message: 'Invalid message: frame too large' },
  1012: { code: 'SERVICE_UNAVAILABLE', message: 'Service unavailable: the server is restarting; connect again' },
  1013: { code: 'RATE_LIMITED', message: 'Rate limited: too slow to read' },
  4403: { code: 'KICKED', message: 'Removed from the room' },
  4404: { code: 'ROOM_NOT_FOUND', message: 'The room was deleted' },
  4409: { code: 'REPLACED', message: 'The peer id was taken over by a new connection with the same token' },
  4413: { code: 'ROOM_FULL', message: 'The room is full' },
  4429: { code: 'RATE_LIMITED', message: 'Rate limited: message rate limit exceeded for too long' }
}

/** An `error` frame: not part of the reference protocol, and ignored by the y-webrtc client, which reads `publish` only. */
export function errorFrame (code: string, message: string, topic?: string): string {
  return JSON.stringify(topic === undefined ? { type: 'error', code, message } : { type: 'error', code, message, topic })
}

const PONG_FRAME = JSON.stringify({ type: 'pong' })

export interface ConnectionHandlers {
  /** A frame for the client. */
  send: (text: string) => void
  /** End the client's socket with this code (1006: drop it). */
  close: (code: number, reason: string) => void
  /** A WebSocket ping frame. */
  ping: () => void
  /** Bytes not yet written to the client. */
  bufferedAmount?: () => number
  /**
   * Admits the connection to `topic`'s room and hands `socket` to the relay; rejects with a signalling error (its
   * `code` and `message` are told to the client) when it may not subscribe.
   */
  subscribe: (topic: string, peerId: string, socket: WebSocket) => Promise<void>
}

/** The connections of one endpoint on this node, and the keepalive, on one timer. */
export class YWebrtcEndpoint {
  readonly connections = new Set<YWebrtcConnection>()
  readonly #timer: NodeJS.Timeout | undefined

  constructor (pingInterval = DEFAULT_PING_INTERVAL) {
    if (pingInterval > 0) {
      this.#timer = setInterval(() => { this.beat() }, pingInterval)
      this.#timer.unref()
    }
  }

  open (peerId: string, handlers: ConnectionHandlers): YWebrtcConnection {
    const connection = new YWebrtcConnection(this, peerId, handlers)
    this.connections.add(connection)
    return connection
  }

  /** One keepalive round: a connection silent since the last round, not even a pong, is dropped. */
  beat (): void {
    for (const connection of this.connections) connection.beat()
  }

  close (): void {
    clearInterval(this.#timer)
  }
}

interface Topic {
  readonly name: string
  readonly relaySocket: RelaySocket
  /** The other peers of the room, from `welcome` and presence: with this connection, the reference's `clients`. */
  readonly others: Set<string>
  /** Publishes made before `welcome`; undefined once it came. */
  early: string[] | undefined
  /** Set when the relay answered `error`: it answers a refused frame within the call that hands it over. */
  refused: boolean
}

export class YWebrtcConnection {
  readonly peerId: string
  readonly topics = new Map<string, Topic>()
  /** Set by a pong or any frame; cleared by each keepalive round. */
  alive = true
  readonly #endpoint: YWebrtcEndpoint
  readonly #handlers: ConnectionHandlers
  #ended = false

  constructor (endpoint: YWebrtcEndpoint, peerId: string, handlers: ConnectionHandlers) {
    this.#endpoint = endpoint
    this.peerId = peerId
    this.#handlers = handlers
  }

  /** A frame from the client. Never throws: a bad frame is answered `error`, delivered to nobody. */
  fromClient (data: Buffer, isBinary: boolean): void {
    try {
      this.#fromClient(data, isBinary)
    } catch {
      // a listener must never throw: ws would stop reading the socket, and the process see an uncaught exception
      this.#refuse('INTERNAL_ERROR', 'message not handled')
    }
  }

  #fromClient (data: Buffer, isBinary: boolean): void {
    if (this.#ended) return
    this.alive = true
    if (isBinary) return this.#refuse('INVALID_MESSAGE', 'binary frames are not part of the protocol')
    if (data.length > MAX_PUBLISH_BYTES) return this.#refuse('INVALID_MESSAGE', `frame too large (at most ${MAX_PUBLISH_BYTES} bytes)`)
    let message: unknown
    try {
      message = JSON.parse(data.toString())
    } catch {
      return this.#refuse('INVALID_MESSAGE', 'not valid JSON')
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return this.#refuse('INVALID_MESSAGE', 'not a JSON object')
    const record = message as Record<string, unknown>
    switch (record.type) {
      case 'subscribe':
      case 'unsubscribe': {
        const topics = record.topics
        if (!Array.isArray(topics) || topics.length > MAX_TOPICS) return this.#refuse('INVALID_MESSAGE', `\`topics\` must be an array of at most ${MAX_TOPICS} topics`)
        for (const topic of topics) {
          if (!isTopic(topic)) this.#refuse('INVALID_MESSAGE', 'a topic is 1 to 64 of A-Z a-z 0-9 _ -', typeof topic === 'string' ? topic.slice(0, 64) : undefined)
          else if (record.type === 'subscribe') this.#subscribe(topic)
          else this.#unsubscribe(topic)
        }
        return
      }
      case 'publish':
        return this.#publish(record)
      case 'ping':
        return this.#handlers.send(PONG_FRAME)
      default:
        if (typeof record.type !== 'string') return this.#refuse('INVALID_MESSAGE', '`type` must be a string')
        return this.#refuse('UNKNOWN_TYPE', record.type.slice(0, 64))
    }
  }

  /** A pong from the client. */
  pong (): void {
    this.alive = true
  }

  beat (): void {
    if (this.#ended) return
    if (!this.alive) {
      this.#handlers.close(1006, 'no pong')
      return this.end()
    }
    this.alive = false
    this.#handlers.ping()
  }

  /** The client's socket is gone: its peer leaves every room at once, as the reference forgets it. */
  end (): void {
    if (this.#ended) return
    this.#ended = true
    this.#endpoint.connections.delete(this)
    for (const topic of [...this.topics.values()]) this.#drop(topic)
  }

  #subscribe (name: string): void {
    if (this.topics.has(name)) return
    if (this.topics.size >= MAX_TOPICS) return this.#refuse('INVALID_MESSAGE', `at most ${MAX_TOPICS} topics per connection`, name)
    const topic: Topic = {
      name,
      others: new Set(),
      early: [],
      refused: false,
      relaySocket: new RelaySocket({
        frame: (text) => { this.#fromRelay(topic, text) },
        closed: (code) => { this.#closedByRelay(topic, code) },
        bufferedAmount: this.#handlers.bufferedAmount
      })
    }
    this.topics.set(name, topic)
    this.#handlers.subscribe(name, this.peerId, topic.relaySocket.asWebSocket).catch((err: unknown) => {
      if (this.topics.get(name) !== topic) return
      this.topics.delete(name)
      topic.relaySocket.end(1000)
      // only our own errors are told as they are; anything else might say more than the client should know
      const known = isSignallingError(err)
      this.#handlers.send(errorFrame(known ? err.code : 'INTERNAL_ERROR', known ? err.message : errorMessage('INTERNAL_ERROR', 'subscribe failed'), name))
    })
  }

  #unsubscribe (name: string): void {
    const topic = this.topics.get(name)
    if (topic !== undefined) this.#drop(topic)
  }

  #drop (topic: Topic): void {
    if (this.topics.get(topic.name) === topic) this.topics.delete(topic.name)
    topic.relaySocket.end(1000)
  }

  #publish (message: Record<string, unknown>): void {
    const name = message.topic
    if (!isTopic(name)) return this.#refuse('INVALID_MESSAGE', '`topic` must be 1 to 64 of A-Z a-z 0-9 _ -')
    const topic = this.topics.get(name)
    // the reference delivers a publish to a topic's subscribers whoever sends it; here only a peer of the room may
    if (topic === undefined) return this.#refuse('INVALID_MESSAGE', 'subscribe to the topic before publishing to it', name)
    // the reference sets `clients` on the message itself
    delete message.clients
    let body: string
    try {
      body = JSON.stringify(message)
    } catch {
      // JSON.parse reads nesting that JSON.stringify cannot write back (RangeError): no client of y-webrtc sends it
      return this.#refuse('INVALID_MESSAGE', 'nested too deeply', name)
    }
    if (topic.early !== undefined) {
      if (topic.early.length >= EARLY_PUBLISHES) return this.#refuse('RATE_LIMITED', `at most ${EARLY_PUBLISHES} publishes before the subscription is done`, name)
      topic.early.push(body)
      return
    }
    this.#toRelay(topic, body)
  }

  /**
   * To the other subscribers through the relay, and back to the sender, as the reference sends to every subscriber.
   * `body` is the publish as JSON text, an object with `type` and `topic` and without `clients`.
   */
  #toRelay (topic: Topic, body: string): void {
    topic.refused = false
    topic.relaySocket.receive(`{"type":"message","data":${body}}`)
    // no echo of a publish the relay refused (its rate limit), or ended the session on
    if (!topic.refused && this.topics.get(topic.name) === topic) this.#handlers.send(`${body.slice(0, -1)},"clients":${topic.others.size + 1}}`)
  }

  #fromRelay (topic: Topic, text: string): void {
    if (this.#ended) return
    let message: { type: string, from?: string, data?: unknown, code?: string, message?: string, peers?: Array<{ peerId: string }>, peer?: { peerId: string }, peerId?: string }
    try {
      message = JSON.parse(text)
    } catch {
      return
    }
    switch (message.type) {
      case 'welcome': {
        for (const peer of message.peers ?? []) topic.others.add(peer.peerId)
        // after the relay has told the room of the join, which follows `welcome` in the same turn: a publish of the
        // newcomer must not reach a peer that does not count it among the subscribers yet
        queueMicrotask(() => {
          const early = topic.early ?? []
          topic.early = undefined
          if (this.topics.get(topic.name) === topic) for (const queued of early) this.#toRelay(topic, queued)
        })
        return
      }
      case 'peer-joined':
        topic.others.add(message.peer!.peerId)
        return
      case 'peer-left':
        topic.others.delete(message.peerId!)
        return
      case 'message': {
        // a y-webrtc peer's publish is relayed whole; anything else (a /ws peer's message, the backend's) comes as its `data`
        let frame: string
        try {
          frame = publishFrame(topic, isPlainObject(message.data) ? message.data : { data: message.data })
        } catch {
          // nested deeper than JSON.stringify can write: only a /ws peer can send it, and no y-webrtc client reads it
          return
        }
        return this.#handlers.send(frame)
      }
      case 'error':
        topic.refused = true
        return this.#handlers.send(errorFrame(message.code ?? 'INTERNAL_ERROR', message.message ?? 'error', topic.name))
      default:
        // pongs, room-closed (the close follows), ice-servers and the relay types of /ws peers have no y-webrtc form
    }
  }

  #closedByRelay (topic: Topic, code: number): void {
    if (this.topics.get(topic.name) !== topic) return
    this.topics.delete(topic.name)
    if (this.#ended) return
    const reason = CLOSE_REASONS[code]
    // a join the relay refused was told already, by its `error`
    const told = topic.early !== undefined && topic.refused
    if (reason !== undefined && !told) this.#handlers.send(errorFrame(reason.code, reason.message, topic.name))
    if (CONNECTION_ENDING.has(code)) {
      this.#handlers.close(code, reason?.code ?? '')
      this.end()
    }
  }

  #refuse (code: ErrorCode, detail: string, topic?: string): void {
    this.#handlers.send(errorFrame(code, errorMessage(code, detail), topic))
  }
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The reference's delivery: the publish as sent, with `clients`, the subscribers of the topic. */
function publishFrame (topic: Topic, data: Record<string, unknown>): string {
  return JSON.stringify({ ...data, type: 'publish', topic: topic.name, clients: topic.others.size + 1 })
}
