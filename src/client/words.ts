/**
 * Session states and reasons in words, for pages that show them to people (the reason codes
 * themselves are documented in docs/protocol.md).
 */
import type { ViewerState } from './streaming-client.js';

const STATES: Record<ViewerState, string> = {
  connecting: 'Connecting…',
  streaming: 'Live',
  'data-only': 'Video paused',
  reconnecting: 'Reconnecting…',
  closed: 'Ended',
};

const REASONS: Record<string, string> = {
  'client-closed': 'You ended the session.',
  'client-disconnected': 'The connection to the server was lost.',
  'signalling-lost': 'The connection to the server was lost.',
  'server-shutdown': 'The server is restarting.',
  'server-draining': 'The server is restarting.',
  'reconnect-failed': 'Could not reach the server again. Try again later.',
  'ice-failed': 'The network path to the video server failed.',
  'ice-disconnected': 'The network path to the video server was interrupted.',
  'connect-timeout': 'The video connection could not be set up (a firewall may block it).',
  'negotiation-failed': 'The browser and the server could not agree on the connection.',
  'start-failed': 'The session could not be started.',
  'no-free-port': 'The server has no room for another viewer right now.',
  'peer-closed': 'The connection was closed.',
  'video-stopped': 'The video was stopped; the session stays open.',
  'video-resumed': 'The video is back.',
  'codec-not-supported': "This browser can't decode this camera's video format.",
  'source-offline': 'The camera is not sending video right now; it will resume by itself.',
  'source-online': 'The camera is back.',
  'source-ended': 'The video has ended.',
  'source-stopped': 'The camera was stopped.',
  'sink-failed': 'The server could not send the video.',
};

/** A state as a short label (`Live`, `Video paused`, ...). */
export function stateText(state: ViewerState): string {
  return STATES[state] ?? state;
}

/** A reason code as a sentence; an unknown code is returned as it is. */
export function reasonText(reason: string | undefined): string {
  if (!reason) return '';
  return REASONS[reason] ?? reason;
}
