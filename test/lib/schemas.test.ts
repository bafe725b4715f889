import t from 'tap'
import { tokenReplyJson } from '../../lib/schemas.js'

t.test('tokenReplyJson makes the bytes JSON.stringify makes, ids with characters to escape included', async (t) => {
  const token = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLW9mLTQzLWNoYXJhY3RlcnMtaW4tYmFzZTY0dXI'
  const expiresAt = new Date(Date.UTC(2026, 0, 1, 1)).toISOString()
  for (const [peerId, roomId] of [['alice', 'room-1'], ['a"b\\c', 'r\u0000\u001f'], ['✓ é', '\ud83d\ude00'], ['\ud800', 'x']]) {
    const reply = { token, peerId: peerId!, roomId: roomId!, expiresAt }
    t.equal(tokenReplyJson(reply), JSON.stringify(reply), JSON.stringify(peerId))
  }
})
