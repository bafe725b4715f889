// One peer of a room on this node: its socket, its `seq` numbering and the frames kept for a resume.
import type { WebSocket } from 'ws'
import type { ResumeOptions } from '../limits.js'
import type { PeerSummary } from '../schemas.js'

/** Its socket changes when it resumes, and is absent during its grace period. Methods live on the prototype: no memory per peer. */
export class LocalPeer {
  socket: WebSocket | undefined
  /** What the socket had read at the last heartbeat; -1 before the first on this socket. */
  lastRead = -1
  /** The message-rate bucket (see message-rate.ts). */
  tokens: number
  /** performance.now() in whole ms: a small integer, where Date.now() took a heap number per peer. */
  refilledAt = Math.floor(performance.now())
  /** Messages dropped in the current second, and seconds in a row over the limit. */
  dropped = 0
  droppedSecond = 0
  abusiveSeconds = 0
  /** Set once the peer has left its room (or was handed to another node): nothing it does counts any more. */
  detached = false
  /** Closed by a server restart: a close goes into the grace period whatever its code. */
  restarting = false
  /** The last `seq` given, and the last frames (numbered), oldest first. */
  seq = 0
  replay: string[] = []
  replayBytes = 0
  grace: NodeJS.Timeout | undefined
  /** Its join token allows it to replace its own metadata (`update-metadata`); the session keeps it across resumes. */
  canUpdateMetadata = false

  constructor (
    readonly peerId: string,
    readonly roomId: string,
    /** Replaced by a metadata update (relay/metadata.ts). */
    public metadata: Record<string, unknown>,
    readonly connection: string,
    readonly joinedAt: string,
    burst: number
  ) {
    this.tokens = burst
  }

  /** The first `seq` still kept. */
  get oldestSeq (): number {
    return this.seq - this.replay.length + 1
  }

  /** Numbers a frame still open (without its `}`) and keeps it for a resume; returns the numbered frame. */
  keep (open: string): string {
    const numbered = `${open},"seq":${++this.seq}}`
    // an array literal of one: pushed to an empty array, the first frame reserved 17 slots that an idle peer kept for good
    if (this.replay.length === 0) this.replay = [numbered]
    else this.replay.push(numbered)
    this.replayBytes += numbered.length
    return numbered
  }

  /** Whether a client that saw `lastSeq` can get every frame after it from here. */
  canReplay (lastSeq: number, maxBytes: number): boolean {
    return !this.detached && lastSeq <= this.seq && lastSeq >= this.oldestSeq - 1 && this.replayBytes <= maxBytes
  }

  framesAfter (lastSeq: number): string[] {
    return this.replay.slice(lastSeq - this.oldestSeq + 1)
  }

  /** Drops the oldest frames beyond the window kept while connected. */
  trim ({ windowMessages, windowBytes }: ResumeOptions): void {
    let drop = 0
    while (this.replay.length - drop > windowMessages || this.replayBytes > windowBytes) {
      this.replayBytes -= this.replay[drop]!.length
      drop++
    }
    if (drop > 0) this.replay.splice(0, drop)
  }

  /** Whether the frames kept since the trim exceed the window enough to trim: in batches, not on every frame. */
  overWindow ({ windowMessages, windowBytes }: ResumeOptions): boolean {
    return this.replay.length > 2 * windowMessages || this.replayBytes > windowBytes
  }

  /** Whether a peer in its grace period has missed more than can be replayed. */
  overGraceBounds ({ maxMessages, maxBytes }: ResumeOptions): boolean {
    return this.replay.length > maxMessages || this.replayBytes > maxBytes
  }
}

/** The peer as the REST API and the registry show it. */
export const summaryOf = (peer: LocalPeer): PeerSummary => ({ peerId: peer.peerId, metadata: peer.metadata, joinedAt: peer.joinedAt })
