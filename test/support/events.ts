// Waiting on the SDK's typed events, and loading real WebRTC for Node (@roamhq/wrtc), for the client tests.
import type { Test } from 'tap'
import type { EventMap, Mesh, MeshEvents, RTCPeerConnectionConstructor, SignallingClient, SignallingClientEvents, TypedEmitter } from '../../client/index.js'

/**
 * Loads @roamhq/wrtc's RTCPeerConnection. Where it cannot load, the file is skipped with one line, or fails
 * with `CI` set; then this resolves to undefined and the file must define no test.
 */
export async function loadRTCPeerConnection (t: Test): Promise<RTCPeerConnectionConstructor | undefined> {
  return await import('@roamhq/wrtc').then(
    (wrtc) => wrtc.default.RTCPeerConnection,
    (err: unknown) => {
      if (process.env.CI !== undefined) throw err
      t.plan(0, `@roamhq/wrtc cannot load here (${String(err)}); with CI set this fails instead`)
      return undefined
    }
  )
}

type Predicate<P> = (payload: P) => boolean

/** Resolves with the first `event` payload matching `predicate`; rejects after `timeout` ms (a ceiling, not a check). */
export function waitForEvent<K extends keyof MeshEvents & string> (
  emitter: Mesh, event: K, predicate?: Predicate<MeshEvents[K]>, what?: string, timeout?: number): Promise<MeshEvents[K]>
export function waitForEvent<K extends keyof SignallingClientEvents & string> (
  emitter: SignallingClient, event: K, predicate?: Predicate<SignallingClientEvents[K]>, what?: string, timeout?: number): Promise<SignallingClientEvents[K]>
export function waitForEvent (
  emitter: TypedEmitter<EventMap>,
  event: string,
  predicate: Predicate<unknown> = () => true,
  what: string = event,
  timeout = 60_000
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener)
      reject(new Error(`timed out waiting for ${what}`))
    }, timeout)
    const listener = (payload: unknown): void => {
      if (!predicate(payload)) return
      clearTimeout(timer)
      emitter.off(event, listener)
      resolve(payload)
    }
    emitter.on(event, listener)
  })
}
