// The last frames sent to a peer, kept for a resume: UTF-8 bytes in one buffer per peer, outside the JS heap.
// Kept as strings, every relayed frame lived long enough to be copied by the young-generation collector and moved
// to the old generation, which then had to be collected in full: the window cost more garbage-collector time
// than the rest of the relay path. Here a frame is copied once into the peer's buffer and the heap never sees it.

/** Smallest buffer a peer gets, at its first frame; it doubles as needed. */
const MIN_CAPACITY = 256

function capacityFor (bytes: number): number {
  let capacity = MIN_CAPACITY
  while (capacity < bytes) capacity *= 2
  return capacity
}

export class FrameLog {
  /** A ring: the oldest frame starts at #start and the frames follow it, wrapping at the end. */
  #ring: Buffer | undefined
  #start = 0
  #bytes = 0
  /** Byte length of each frame, oldest first from #head (a queue that is compacted now and then). */
  #lengths: number[] = []
  #head = 0

  get count (): number {
    return this.#lengths.length - this.#head
  }

  /** Bytes held. */
  get bytes (): number {
    return this.#bytes
  }

  /** Bytes allocated for this peer. */
  get capacity (): number {
    return this.#ring?.length ?? 0
  }

  push (frame: Buffer | string): void {
    const bytes = typeof frame === 'string' ? Buffer.from(frame) : frame
    const need = this.#bytes + bytes.length
    if (this.#ring === undefined || need > this.#ring.length) this.#resize(capacityFor(need))
    const ring = this.#ring!
    let at = this.#start + this.#bytes
    if (at >= ring.length) at -= ring.length
    const first = Math.min(bytes.length, ring.length - at)
    bytes.copy(ring, at, 0, first)
    if (first < bytes.length) bytes.copy(ring, 0, first)
    this.#bytes = need
    this.#lengths.push(bytes.length)
  }

  /**
   * Drops the oldest frames until at most `messages` frames and `bytes` bytes are left. A buffer grown for a
   * backlog (a grace period) shrinks back once it is four times what the bounds need.
   */
  trim (messages: number, bytes: number): void {
    const ring = this.#ring
    if (ring === undefined) return
    while (this.count > Math.max(messages, 0) || this.#bytes > Math.max(bytes, 0)) {
      const length = this.#lengths[this.#head++]!
      this.#bytes -= length
      this.#start += length
      if (this.#start >= ring.length) this.#start -= ring.length
    }
    if (this.#head === this.#lengths.length) {
      this.#lengths.length = 0
      this.#head = 0
      this.#start = 0
    } else if (this.#head >= 32) {
      this.#lengths.splice(0, this.#head)
      this.#head = 0
    }
    const needed = Math.max(bytes, this.#bytes, MIN_CAPACITY)
    if (ring.length > 4 * needed) this.#resize(capacityFor(needed))
  }

  /** The frames from the `skip`-th oldest on, decoded. */
  frames (skip = 0): string[] {
    const ring = this.#ring
    const out: string[] = []
    if (ring === undefined) return out
    let at = this.#start
    for (let i = this.#head; i < this.#lengths.length; i++) {
      const length = this.#lengths[i]!
      if (i - this.#head >= skip) {
        const end = at + length
        out.push(end <= ring.length
          ? ring.toString('utf8', at, end)
          : Buffer.concat([ring.subarray(at), ring.subarray(0, end - ring.length)]).toString('utf8'))
      }
      at += length
      if (at >= ring.length) at -= ring.length
    }
    return out
  }

  /** Forgets every frame and gives the buffer back. */
  clear (): void {
    this.#ring = undefined
    this.#start = 0
    this.#bytes = 0
    this.#lengths = []
    this.#head = 0
  }

  /** Moves the frames to a buffer of `capacity` bytes, oldest at its start. */
  #resize (capacity: number): void {
    const next = Buffer.allocUnsafeSlow(capacity)
    const ring = this.#ring
    if (ring !== undefined && this.#bytes > 0) {
      const first = Math.min(this.#bytes, ring.length - this.#start)
      ring.copy(next, 0, this.#start, this.#start + first)
      if (first < this.#bytes) ring.copy(next, first, 0, this.#bytes - first)
    }
    this.#ring = next
    this.#start = 0
  }
}
