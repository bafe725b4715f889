// A real webhook receiver for the tests: node:http on a free port, every delivery checked with standardwebhooks.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { Webhook } from 'standardwebhooks'
import type { SignallingEvent } from '../../lib/events/types.js'

export const TEST_WEBHOOK_SECRET = `whsec_${Buffer.from('a test secret of 32 bytes exactly').toString('base64')}`

export interface Delivery {
  webhookId: string
  event: SignallingEvent
  /** What the receiver answered. */
  status: number
}

export interface Receiver {
  url: string
  /** Every delivery that arrived, verified, in arrival order. */
  deliveries: Delivery[]
  /** Deliveries that failed verification (should stay empty). */
  forged: string[]
  /** The status answered from now on (200 by default). */
  answer: (status: number) => void
  /** Closes the port: attempts then fail to connect. */
  stop: () => Promise<void>
  /** Listens again on the same port. */
  start: () => Promise<void>
  /** Answered 2xx, one per webhook-id, in arrival order. */
  accepted: () => SignallingEvent[]
}

export async function startReceiver (t: Test, secret = TEST_WEBHOOK_SECRET): Promise<Receiver> {
  const webhook = new Webhook(secret)
  const deliveries: Delivery[] = []
  const forged: string[] = []
  let status = 200
  let server: Server | undefined
  let port = 0
  const listen = async (): Promise<void> => {
    server = createServer((request, response) => {
      let body = ''
      request.setEncoding('utf8')
      request.on('data', (chunk: string) => { body += chunk })
      request.on('end', () => {
        try {
          const event = webhook.verify(body, request.headers as Record<string, string>) as SignallingEvent
          deliveries.push({ webhookId: String(request.headers['webhook-id']), event, status })
          response.statusCode = status
        } catch (err) {
          forged.push(String(err))
          response.statusCode = 400
        }
        response.end()
      })
    })
    server.listen(port, '127.0.0.1')
    await new Promise((resolve) => server!.once('listening', resolve))
    port = (server.address() as AddressInfo).port
  }
  const stop = async (): Promise<void> => {
    if (server === undefined) return
    const closing = server
    server = undefined
    await new Promise((resolve) => { closing.close(resolve); closing.closeAllConnections() })
  }
  await listen()
  t.teardown(stop)
  return {
    url: `http://127.0.0.1:${port}/hook`,
    deliveries,
    forged,
    answer: (next) => { status = next },
    stop,
    start: listen,
    accepted: () => deliveries.filter((d) => d.status >= 200 && d.status < 300).map((d) => d.event)
  }
}

/** Waits (at most `timeout` ms) for `condition`. */
export async function until (condition: () => boolean, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
