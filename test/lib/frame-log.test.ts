import t from 'tap'
import { FrameLog } from '../../lib/frame-log.js'

const frame = (seq: number, pad = 0): string => JSON.stringify({ type: 'message', from: 'a', data: 'x'.repeat(pad), seq })

t.test('frames come back in order, from any position, with multi-byte text intact', async (t) => {
  const log = new FrameLog()
  t.same(log.frames(), [], 'empty before the first frame')
  t.equal(log.capacity, 0, 'no buffer before the first frame')
  const frames = [frame(1), JSON.stringify({ data: 'ünïcødé ✓ 🎥 \u2028' }), frame(3, 40)]
  for (const f of frames) log.push(f)
  t.equal(log.count, 3)
  t.equal(log.bytes, frames.reduce((n, f) => n + Buffer.byteLength(f), 0), 'bytes are UTF-8 bytes')
  t.same(log.frames(), frames)
  t.same(log.frames(1), frames.slice(1))
  t.same(log.frames(3), [])
  log.push(Buffer.from(frame(4)))
  t.same(log.frames(3), [frame(4)], 'a buffer is kept as its text')
})

t.test('trimming keeps the newest frames within both bounds', async (t) => {
  const log = new FrameLog()
  for (let seq = 1; seq <= 10; seq++) log.push(frame(seq))
  log.trim(4, 10_000)
  t.same(log.frames(), [7, 8, 9, 10].map((seq) => frame(seq)), 'at most 4 frames')
  log.trim(10, Buffer.byteLength(frame(9)) + Buffer.byteLength(frame(10)))
  t.same(log.frames(), [frame(9), frame(10)], 'at most two frames of bytes')
  log.trim(0, 0)
  t.equal(log.count, 0)
  t.equal(log.bytes, 0)
  t.same(log.frames(), [])
  log.push(frame(11))
  t.same(log.frames(), [frame(11)], 'usable again after being emptied')
})

t.test('a frame that wraps around the end of the buffer reads back whole', async (t) => {
  const log = new FrameLog()
  // frames of 100 bytes in a 256-byte buffer, two kept: the third write wraps
  const sized = (seq: number): string => { const f = frame(seq); return f + ' '.repeat(100 - f.length) }
  for (let seq = 1; seq <= 40; seq++) {
    log.trim(1, 256 - 100)
    log.push(sized(seq))
    t.equal(log.capacity, 256, `no growth at frame ${seq}`)
    t.same(log.frames(), seq === 1 ? [sized(1)] : [sized(seq - 1), sized(seq)], `frames ${seq - 1} and ${seq}`)
  }
})

t.test('the buffer grows for a backlog, keeping every frame, and shrinks back once trimmed', async (t) => {
  const log = new FrameLog()
  const frames = Array.from({ length: 200 }, (_, i) => frame(i + 1, 100))
  for (const f of frames) log.push(f)
  t.same(log.frames(), frames, 'a grace-period backlog of 200 frames')
  t.ok(log.capacity >= log.bytes && log.capacity < 2 * log.bytes, `${log.capacity} bytes for ${log.bytes}`)
  log.trim(8, 16 * 1024)
  t.same(log.frames(), frames.slice(-8))
  t.ok(log.capacity <= 2 * 16 * 1024, `back to ${log.capacity} bytes`)
  log.clear()
  t.equal(log.capacity, 0, 'clear gives the buffer back')
  t.same(log.frames(), [])
})
