// The plugin's yWebrtc option: defaults, and a bad value refused at registration with the option's name.
import t from 'tap'
import { resolveYWebrtcOptions } from '../../routes/y-webrtc.js'
import { buildTestApp } from '../helper.js'

t.test('true takes the defaults; given values are kept', async (t) => {
  t.same(resolveYWebrtcOptions(true), { path: '/yjs', mode: 'open', rooms: 'create', pingInterval: 30_000 })
  t.same(resolveYWebrtcOptions({ path: '/a/b', mode: 'token', rooms: 'existing', pingInterval: 0 }), { path: '/a/b', mode: 'token', rooms: 'existing', pingInterval: 0 })
})

t.test('a bad value is refused with the option\'s name', async (t) => {
  t.throws(() => resolveYWebrtcOptions({ path: '/' }), /^yWebrtc\.path must look like \/yjs/)
  t.throws(() => resolveYWebrtcOptions({ path: 'yjs' }), /^yWebrtc\.path/)
  t.throws(() => resolveYWebrtcOptions({ mode: 'closed' as 'open' }), /^yWebrtc\.mode must be 'open' or 'token', got "closed"/)
  t.throws(() => resolveYWebrtcOptions({ rooms: 'any' as 'create' }), /^yWebrtc\.rooms must be 'create' or 'existing'/)
  t.throws(() => resolveYWebrtcOptions({ pingInterval: 50 }), /^yWebrtc\.pingInterval must be 0 or an integer from 100 to 3600000, got 50/)
  t.throws(() => resolveYWebrtcOptions({ pingInterval: 1.5 }), /^yWebrtc\.pingInterval/)
  await t.rejects(buildTestApp(t, { yWebrtc: { mode: 'closed' as 'open' } }), /^yWebrtc\.mode/, 'the plugin refuses it at registration')
})
