// Payloads of realistic size: a browser's audio+video+data SDP (about 4-5 KB) and host/srflx ICE candidates (about 200 B).
import { randomBytes } from 'node:crypto'

const hex = (n: number): string => randomBytes(n).toString('hex')
const token = (n: number): string => randomBytes(n).toString('base64').slice(0, n)

function media (kind: 'audio' | 'video', mid: number, ufrag: string, pwd: string, fingerprint: string): string {
  const payloads = kind === 'audio' ? [111, 63, 9, 0, 8, 13, 110, 126] : [96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 127, 125, 39, 40, 45, 46]
  const codecs = kind === 'audio'
    ? ['opus/48000/2', 'red/48000/2', 'G722/8000', 'PCMU/8000', 'PCMA/8000', 'CN/8000', 'telephone-event/48000', 'telephone-event/8000']
    : ['VP8/90000', 'rtx/90000', 'VP9/90000', 'rtx/90000', 'H264/90000', 'rtx/90000', 'H264/90000', 'rtx/90000', 'AV1/90000', 'rtx/90000',
        'H264/90000', 'rtx/90000', 'H264/90000', 'rtx/90000', 'H265/90000', 'rtx/90000', 'red/90000', 'rtx/90000', 'ulpfec/90000', 'flexfec-03/90000']
  const lines = [
    `m=${kind} 9 UDP/TLS/RTP/SAVPF ${payloads.join(' ')}`, 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
    `a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'a=ice-options:trickle', `a=fingerprint:sha-256 ${fingerprint}`,
    'a=setup:actpass', `a=mid:${mid}`, 'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid', 'a=sendrecv', `a=msid:${hex(16)} ${hex(16)}`, 'a=rtcp-mux', 'a=rtcp-rsize'
  ]
  payloads.forEach((pt, i) => {
    lines.push(`a=rtpmap:${pt} ${codecs[i]}`)
    if (kind === 'video') lines.push(`a=rtcp-fb:${pt} goog-remb`, `a=rtcp-fb:${pt} transport-cc`, `a=rtcp-fb:${pt} ccm fir`, `a=rtcp-fb:${pt} nack`, `a=rtcp-fb:${pt} nack pli`)
    else if (pt === 111) lines.push('a=rtcp-fb:111 transport-cc', 'a=fmtp:111 minptime=10;useinbandfec=1')
  })
  const ssrc = randomBytes(4).readUInt32BE()
  lines.push(`a=ssrc:${ssrc} cname:${token(16)}`, `a=ssrc:${ssrc} msid:${hex(16)} ${hex(16)}`)
  return lines.join('\r\n')
}

/** An SDP like Chrome's for one audio, one video and one data channel. */
export function sampleSdp (type: 'offer' | 'answer'): string {
  const ufrag = token(4)
  const pwd = token(24)
  const fingerprint = Array.from(randomBytes(32), (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':')
  return [
    'v=0', `o=- ${randomBytes(8).readBigUInt64BE() >> 1n} 2 IN IP4 127.0.0.1`, 's=-', 't=0 0', 'a=group:BUNDLE 0 1 2',
    'a=extmap-allow-mixed', `a=msid-semantic: WMS ${hex(16)}`,
    media('audio', 0, ufrag, pwd, fingerprint), media('video', 1, ufrag, pwd, fingerprint),
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'c=IN IP4 0.0.0.0', `a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`,
    'a=ice-options:trickle', `a=fingerprint:sha-256 ${fingerprint}`, `a=setup:${type === 'offer' ? 'actpass' : 'active'}`,
    'a=mid:2', 'a=sctp-port:5000', 'a=max-message-size:262144', ''
  ].join('\r\n')
}

/** A trickled ICE candidate as RTCIceCandidate.toJSON() gives it. */
export function sampleCandidate (n: number): { candidate: string, sdpMid: string, sdpMLineIndex: number, usernameFragment: string } {
  const port = 50_000 + (n % 10_000)
  const srflx = n % 3 === 2
  return {
    candidate: srflx
      ? `candidate:${randomBytes(4).readUInt32BE()} 1 udp 1686052607 203.0.113.${n % 250} ${port} typ srflx raddr 192.168.1.${n % 250} rport ${port} generation 0 ufrag ${token(4)} network-id 1 network-cost 10`
      : `candidate:${randomBytes(4).readUInt32BE()} 1 udp 2122260223 192.168.1.${n % 250} ${port} typ host generation 0 ufrag ${token(4)} network-id 1 network-cost 10`,
    sdpMid: String(n % 3),
    sdpMLineIndex: n % 3,
    usernameFragment: token(4)
  }
}
