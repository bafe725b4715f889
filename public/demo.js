// The demo call page: a token from POST /demo/join, then a full mesh of WebRTC calls through the client SDK.
import { SignallingClient, Mesh } from '/client/index.js'

const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/
const MAX_NAME_LENGTH = 40
const MAX_CHAT_LENGTH = 500
const NAME_STORAGE_KEY = 'fastify-signalling-demo:name'

// Close codes after which the client does not come back (see the client README), in words.
const CLOSE_MESSAGES = {
  4403: 'You were removed from the room.',
  4404: 'The room was closed.',
  4409: 'You joined this room again from another tab or device, so this one was disconnected.',
  4413: 'The room is full (8 people at most).'
}

const byId = (id) => {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`#${id} missing from the page`)
  return element
}

const ui = {
  status: byId('status'),
  error: byId('error'),
  info: byId('info'),
  joinView: byId('join-view'),
  joinForm: byId('join-form'),
  roomInput: byId('room-input'),
  nameInput: byId('name-input'),
  joinButton: byId('join-button'),
  callView: byId('call-view'),
  roomName: byId('room-name'),
  copyLink: byId('copy-link'),
  toggleMic: byId('toggle-mic'),
  toggleCamera: byId('toggle-camera'),
  leaveButton: byId('leave-button'),
  videos: byId('videos'),
  chatLog: byId('chat-log'),
  chatForm: byId('chat-form'),
  chatInput: byId('chat-input')
}

/**
 * The call in progress, or undefined on the join screen.
 * @type {{ client: SignallingClient, mesh: Mesh, stream: MediaStream | undefined, name: string,
 *          roomId: string, tiles: Map<string, HTMLElement> } | undefined}
 */
let call

// ---- status and notices -------------------------------------------------------------------------

function setStatus (text, state) {
  ui.status.textContent = text
  ui.status.dataset.state = state
}

function showNotice (element, text) {
  element.querySelector('.notice-text').textContent = text
  element.hidden = false
}

const showError = (text) => showNotice(ui.error, text)
const showInfo = (text) => showNotice(ui.info, text)

function hideNotices () {
  ui.error.hidden = true
  ui.info.hidden = true
}

for (const notice of [ui.error, ui.info]) {
  notice.querySelector('.notice-close').addEventListener('click', () => { notice.hidden = true })
}

// ---- joining --------------------------------------------------------------------------------------

function prefill () {
  const room = new URLSearchParams(location.search).get('room')
  if (room !== null && ROOM_PATTERN.test(room)) ui.roomInput.value = room
  try {
    ui.nameInput.value = localStorage.getItem(NAME_STORAGE_KEY) ?? ''
  } catch {} // storage may be disabled; the name is only a convenience
  ;(ui.roomInput.value === '' ? ui.roomInput : ui.nameInput).focus()
}

/** Marks a field invalid and says why, or returns its value when valid. */
function checkField (input, valid, message) {
  input.setAttribute('aria-invalid', String(!valid))
  if (!valid) {
    showError(message)
    input.focus()
  }
  return valid
}

async function join () {
  if (call !== undefined) return
  hideNotices()
  const room = ui.roomInput.value.trim()
  const name = ui.nameInput.value.trim()
  if (!checkField(ui.roomInput, ROOM_PATTERN.test(room),
    'Room names use letters, digits, "-" and "_" only, up to 64 characters.')) return
  if (!checkField(ui.nameInput, name.length >= 1 && name.length <= MAX_NAME_LENGTH,
    `Please type a name of 1 to ${MAX_NAME_LENGTH} characters.`)) return
  try {
    localStorage.setItem(NAME_STORAGE_KEY, name)
  } catch {}

  ui.joinButton.disabled = true
  try {
    setStatus('Waiting for camera and microphone…', 'connecting')
    const media = await getLocalMedia()
    setStatus('Joining…', 'connecting')
    let grant
    try {
      grant = await requestToken(room, name)
    } catch (err) {
      stopStream(media.stream)
      setStatus('Not connected', 'idle')
      showError(err.message)
      return
    }
    if (media.note !== undefined) showInfo(media.note)
    startCall(grant, name, media.stream)
  } finally {
    ui.joinButton.disabled = false
  }
}

/**
 * Camera and microphone, or less when that is all we can get: someone without a camera (or who said
 * no) still joins, sees and hears the others, and chats.
 */
async function getLocalMedia () {
  const withoutMedia = 'You can still see and hear the others and use the chat.'
  if (navigator.mediaDevices?.getUserMedia === undefined) {
    return { stream: undefined, note: `This page cannot use a camera here (browsers allow it only on https or localhost), so you joined without camera and microphone. ${withoutMedia}` }
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
      audio: true
    })
    return { stream, note: undefined }
  } catch (err) {
    if (err.name === 'NotAllowedError' || err.name === 'SecurityError') {
      return { stream: undefined, note: `Camera and microphone access was denied, so you joined without them. ${withoutMedia} To send video, allow access in the browser and join again.` }
    }
    // No camera, or one that is busy: the microphone alone is better than nothing.
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true })
      return { stream, note: `Your camera is unavailable (${describeMediaError(err)}), so you joined with your microphone only.` }
    } catch {
      return { stream: undefined, note: `Your camera and microphone are unavailable (${describeMediaError(err)}), so you joined without them. ${withoutMedia}` }
    }
  }
}

function describeMediaError (err) {
  switch (err.name) {
    case 'NotFoundError': return 'none was found'
    case 'NotReadableError': return 'another application may be using it'
    case 'OverconstrainedError': return 'it does not support the requested format'
    default: return err.message || err.name
  }
}

async function requestToken (room, name) {
  let response
  try {
    response = await fetch('/demo/join', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room, name })
    })
  } catch {
    throw new Error('Could not reach the server. Check your connection and try again.')
  }
  let body
  try {
    body = await response.json()
  } catch {}
  if (!response.ok) {
    if (response.status === 404) throw new Error('The demo is switched off on this server (it runs with DEMO=true or outside production).')
    const detail = typeof body?.message === 'string' ? body.message : `${response.status} ${response.statusText}`
    throw new Error(`The server could not let you join: ${detail}`)
  }
  if (typeof body?.token !== 'string' || typeof body.roomId !== 'string') {
    throw new Error('The server sent an unexpected answer; please try again.')
  }
  return body
}

function signallingUrl () {
  const url = new URL('/ws', location.href)
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return url.href
}

// ---- the call -------------------------------------------------------------------------------------

function startCall (grant, name, stream) {
  // Browsers hide why an upgrade was refused (e.g. a full room), so give up after a few closed attempts
  // while joining; once in the room the client keeps trying through outages (see maxFailedOpens).
  const client = new SignallingClient({ url: signallingUrl(), token: grant.token, reconnect: { maxFailedOpens: 3 } })
  const mesh = new Mesh(client, { dataChannel: 'chat', streams: stream === undefined ? [] : [stream] })
  const current = { client, mesh, stream, name, roomId: grant.roomId, tiles: new Map() }
  call = current

  const url = new URL(location.href)
  url.searchParams.set('room', grant.roomId)
  history.replaceState(null, '', url)

  ui.roomName.textContent = grant.roomId
  ui.chatLog.replaceChildren()
  ui.videos.replaceChildren()
  updateMediaButtons()
  addTile(grant.peerId, name, { self: true }).setStream(stream)
  ui.joinView.hidden = true
  ui.callView.hidden = false
  setStatus('Connecting to the signalling server…', 'connecting')

  const isCurrent = () => call === current

  let welcomed = false
  client.on('welcome', (welcome) => {
    if (!isCurrent()) return
    appendSystem(welcomed ? 'Reconnected' : `You joined room ${welcome.roomId}`)
    welcomed = true
    const present = new Set(welcome.peers.map((peer) => peer.peerId))
    for (const peerId of current.tiles.keys()) {
      if (peerId !== welcome.peerId && !present.has(peerId)) removeTile(peerId)
    }
    for (const peer of welcome.peers) {
      const tile = addTile(peer.peerId, peerName(peer))
      // After a reconnection the mesh builds every connection afresh (unless the server resumed them).
      if (welcome.resumed !== true && 'announced' in tile.dataset) {
        delete tile.dataset.announced
        tile.setState('connecting')
      }
    }
    updateConnectedStatus()
  })
  client.on('peer-joined', ({ peer }) => {
    if (!isCurrent()) return
    addTile(peer.peerId, peerName(peer))
    appendSystem(`${peerName(peer)} joined`)
    updateConnectedStatus()
  })
  client.on('peer-left', ({ peerId, reason }) => {
    if (!isCurrent()) return
    const name = tileName(peerId)
    removeTile(peerId)
    appendSystem(reason === 'left' ? `${name} left` : `${name} lost the connection`)
    updateConnectedStatus()
  })
  client.on('reconnecting', ({ attempt }) => {
    if (isCurrent()) setStatus(`Connection lost; reconnecting (attempt ${attempt})…`, 'reconnecting')
  })
  client.on('room-closed', () => {
    if (isCurrent()) appendSystem('The room was closed')
  })
  client.on('error', (message) => {
    if (!isCurrent()) return
    // Routine: a candidate or offer that reached the server just after its peer left. Nothing to act on.
    if (message.code === 'PEER_NOT_FOUND') {
      console.info(`Signalling: ${message.message} (${message.code})`)
      return
    }
    showError(`The server reported an error: ${message.message} (${message.code})`)
  })
  client.on('close', (event) => {
    if (!isCurrent() || event.willReconnect) return
    endCall(describeClose(event.code, event.reason))
  })

  mesh.on('track', ({ peerId, track, streams }) => {
    current.tiles.get(peerId)?.setStream(streams[0] ?? new MediaStream([track]))
  })
  // A tile says "connected" once the mesh announces the peer (media and chat channel up), not before.
  mesh.on('peer', ({ peerId }) => {
    const tile = current.tiles.get(peerId)
    if (tile === undefined) return
    tile.dataset.announced = ''
    tile.setState('connected')
  })
  mesh.on('connectionstatechange', ({ peerId, state }) => {
    const tile = current.tiles.get(peerId)
    if (tile === undefined || (state === 'connected' && !('announced' in tile.dataset))) return
    tile.setState(state)
  })
  mesh.on('message', ({ peerId, data }) => {
    if (isCurrent()) receiveChat(peerId, data)
  })
  mesh.on('error', ({ peerId, error }) => {
    console.warn('negotiation with', peerId, 'failed:', error)
    current.tiles.get(peerId)?.setState('failed')
  })

  client.connect().catch((err) => {
    // The close listener has already ended the call when the client gave up; this covers the rest.
    if (isCurrent()) endCall(describeClose(err.code, err.reason))
  })
}

function describeClose (code, reason) {
  if (code === 1000) return undefined
  if (code in CLOSE_MESSAGES) return CLOSE_MESSAGES[code]
  if (code === 1006) return 'Could not connect to the signalling server: it refused the connection (the room may be full or your link may have expired) or it is unreachable.'
  return `Disconnected from the signalling server (code ${code}${reason ? `: ${reason}` : ''}).`
}

function updateConnectedStatus () {
  if (call === undefined) return
  const others = call.client.peers.size
  const people = others === 0 ? 'only you so far' : `${others + 1} people`
  setStatus(`Connected · ${people}`, 'connected')
}

/** Leaves the room and returns to the join screen, showing `errorText` if the call ended badly. */
function endCall (errorText) {
  const ending = call
  if (ending === undefined) return
  call = undefined
  ending.mesh.close()
  void ending.client.leave()
  stopStream(ending.stream)
  for (const peerId of ending.tiles.keys()) removeTile(peerId, ending)
  ui.callView.hidden = true
  ui.joinView.hidden = false
  setStatus('Not connected', 'idle')
  if (errorText !== undefined) showError(errorText)
  ui.joinButton.focus()
}

function stopStream (stream) {
  for (const track of stream?.getTracks() ?? []) track.stop()
}

function peerName (peer) {
  const name = peer.metadata?.name
  return typeof name === 'string' && name.trim() !== '' ? name.trim().slice(0, MAX_NAME_LENGTH) : `Guest ${peer.peerId.slice(0, 6)}`
}

function tileName (peerId) {
  return call?.tiles.get(peerId)?.dataset.name ?? 'Someone'
}

// ---- video tiles ----------------------------------------------------------------------------------

const STATE_LABELS = {
  new: 'connecting…',
  connecting: 'connecting…',
  connected: '',
  disconnected: 'reconnecting…',
  failed: 'connection failed',
  closed: 'disconnected'
}

/** A tile for `peerId` (the existing one if any), with `setStream` and `setState` methods. */
function addTile (peerId, name, { self = false } = {}) {
  const existing = call.tiles.get(peerId)
  if (existing !== undefined) return existing

  const tile = document.createElement('figure')
  tile.className = 'tile'
  tile.setAttribute('role', 'listitem')
  tile.dataset.peerId = peerId
  tile.dataset.name = name
  tile.dataset.video = 'off'
  if (self) tile.dataset.self = ''
  else tile.dataset.remote = ''

  const video = document.createElement('video')
  video.autoplay = true
  video.playsInline = true
  video.muted = self // never play our own microphone back
  video.setAttribute('aria-label', self ? 'Your camera' : `Video of ${name}`)

  const avatar = document.createElement('div')
  avatar.className = 'avatar'
  avatar.setAttribute('aria-hidden', 'true')
  avatar.textContent = [...name][0]?.toUpperCase() ?? '?'

  const caption = document.createElement('figcaption')
  const nameLabel = document.createElement('span')
  nameLabel.className = 'tile-name'
  nameLabel.textContent = self ? `${name} (you)` : name
  const stateLabel = document.createElement('span')
  stateLabel.className = 'tile-state'
  caption.append(nameLabel, stateLabel)
  tile.append(video, avatar, caption)

  const showVideo = () => {
    const track = video.srcObject?.getVideoTracks()[0]
    const on = track !== undefined && track.enabled && !track.muted && video.videoWidth > 0
    tile.dataset.video = on ? 'on' : 'off'
  }
  video.addEventListener('resize', showVideo)
  video.addEventListener('loadedmetadata', showVideo)
  video.addEventListener('playing', showVideo)

  tile.setStream = (stream) => {
    if (stream === undefined || video.srcObject === stream) return
    video.srcObject = stream
    for (const track of stream.getVideoTracks()) {
      track.addEventListener('mute', showVideo)
      track.addEventListener('unmute', showVideo)
      track.addEventListener('ended', showVideo)
    }
    // A new remote track may join a stream we already show (audio first, then video).
    stream.addEventListener('addtrack', ({ track }) => {
      if (track.kind === 'video') {
        track.addEventListener('mute', showVideo)
        track.addEventListener('unmute', showVideo)
      }
      showVideo()
    })
    play(video, tile)
  }
  tile.refreshVideo = showVideo
  tile.setState = (state) => {
    stateLabel.textContent = STATE_LABELS[state] ?? state
    tile.dataset.state = state
  }
  tile.setState(self ? 'connected' : 'connecting')

  call.tiles.set(peerId, tile)
  if (self) ui.videos.prepend(tile)
  else ui.videos.append(tile)
  updateGridSize()
  return tile
}

function removeTile (peerId, owner = call) {
  const tile = owner?.tiles.get(peerId)
  if (tile === undefined) return
  owner.tiles.delete(peerId)
  const video = tile.querySelector('video')
  video.srcObject = null
  tile.remove()
  updateGridSize()
}

function updateGridSize () {
  ui.videos.dataset.count = String(ui.videos.children.length)
}

/** Starts playback; when the browser blocks sound without a click, plays muted and offers a button. */
function play (video, tile) {
  video.play().catch((err) => {
    if (err.name !== 'NotAllowedError' || video.muted) return
    video.muted = true
    video.play().catch(() => {})
    const unmute = document.createElement('button')
    unmute.type = 'button'
    unmute.className = 'button unmute'
    unmute.textContent = 'Click for sound'
    unmute.addEventListener('click', () => {
      video.muted = false
      video.play().catch(() => {})
      unmute.remove()
    })
    tile.append(unmute)
  })
}

// ---- chat over the mesh's data channel -------------------------------------------------------------

function sendChat () {
  if (call === undefined) return
  const text = ui.chatInput.value.trim().slice(0, MAX_CHAT_LENGTH)
  if (text === '') return
  const others = call.client.peers.size
  const sent = call.mesh.broadcast(JSON.stringify({ kind: 'chat', text }))
  let note
  if (others === 0) note = 'no one else is here yet'
  else if (sent < others) note = `reached ${sent} of ${others}; the others are still connecting`
  appendChat({ author: call.name, text, self: true, note })
  ui.chatInput.value = ''
}

function receiveChat (peerId, data) {
  if (typeof data !== 'string') return
  let message
  try {
    message = JSON.parse(data)
  } catch {
    return
  }
  if (message?.kind !== 'chat' || typeof message.text !== 'string') return
  appendChat({ author: tileName(peerId), text: message.text.slice(0, MAX_CHAT_LENGTH), self: false })
}

function appendChat ({ author, text, self, note }) {
  const item = document.createElement('li')
  item.className = 'chat-message'
  if (self) item.dataset.self = ''
  const header = document.createElement('p')
  header.className = 'chat-meta'
  const who = document.createElement('span')
  who.className = 'chat-author'
  who.textContent = self ? `${author} (you)` : author
  const time = document.createElement('time')
  const now = new Date()
  time.dateTime = now.toISOString()
  time.textContent = now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  header.append(who, ' ', time)
  const body = document.createElement('p')
  body.className = 'chat-text'
  body.textContent = text
  item.append(header, body)
  if (note !== undefined) {
    const small = document.createElement('p')
    small.className = 'chat-note'
    small.textContent = note
    item.append(small)
  }
  appendToLog(item)
}

function appendSystem (text) {
  const item = document.createElement('li')
  item.className = 'chat-system'
  item.textContent = text
  appendToLog(item)
}

function appendToLog (item) {
  ui.chatLog.append(item)
  item.scrollIntoView({ block: 'end' })
}

// ---- local controls -------------------------------------------------------------------------------

function updateMediaButtons () {
  const audio = call?.stream?.getAudioTracks()[0]
  const video = call?.stream?.getVideoTracks()[0]
  setToggle(ui.toggleMic, audio, 'Mute', 'Unmute', 'No microphone')
  setToggle(ui.toggleCamera, video, 'Stop video', 'Start video', 'No camera')
}

function setToggle (button, track, onLabel, offLabel, missingLabel) {
  button.disabled = track === undefined
  const off = track !== undefined && !track.enabled
  button.setAttribute('aria-pressed', String(off))
  button.textContent = track === undefined ? missingLabel : off ? offLabel : onLabel
}

function toggleTracks (tracks) {
  for (const track of tracks) track.enabled = !track.enabled
  updateMediaButtons()
}

ui.toggleMic.addEventListener('click', () => toggleTracks(call?.stream?.getAudioTracks() ?? []))
ui.toggleCamera.addEventListener('click', () => {
  toggleTracks(call?.stream?.getVideoTracks() ?? [])
  const self = call === undefined ? undefined : [...call.tiles.values()].find((tile) => 'self' in tile.dataset)
  self?.refreshVideo()
})

ui.copyLink.addEventListener('click', async () => {
  const link = location.href
  try {
    await navigator.clipboard.writeText(link)
    showInfo(`Link copied: ${link}`)
  } catch {
    showInfo(`Share this link: ${link}`)
  }
})

ui.leaveButton.addEventListener('click', () => {
  endCall()
  showInfo('You left the room.')
})

ui.joinForm.addEventListener('submit', (event) => {
  event.preventDefault()
  void join()
})

ui.chatForm.addEventListener('submit', (event) => {
  event.preventDefault()
  sendChat()
})

// Tell the others right away rather than letting them wait for the server's timeout.
window.addEventListener('pagehide', () => endCall())

prefill()
