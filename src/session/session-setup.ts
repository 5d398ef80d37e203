import { StreamingError } from '../common/streaming-error';
import { codecForOffer } from '../media/codecs';
import { MediaSource } from '../media/media-source';
import { MediaSourceRegistry } from '../media/source-registry';
import { ErrorCode, SessionCandidateEvent, SessionOfferEvent, SessionStateEvent } from '../protocol';
import { hasDataChannel, hasLiveVideo } from '../sdp/sdp';
import { dtlsCertificates } from '../werift';
import type { DtlsCertificatePem } from '../werift/certificate';
import { RemoteSession } from '../workers/remote-session';
import type { MediaWorkerPool } from '../workers/worker-pool';
import { Session, SessionCallbacks } from './session';
import { SessionOptions } from './session.options';

// What SessionService needs to set a session up: its source, its codec, and where it runs.

/** A session on this thread, or one hosted by a media worker (`mediaWorkers` > 0). */
export type SessionHandle = Session | RemoteSession;

/** Events the service publishes, each addressed to the client (owner) of the session. */
export interface SessionEvents {
  candidate: [ownerId: string, event: SessionCandidateEvent];
  offer: [ownerId: string, event: SessionOfferEvent];
  state: [ownerId: string, event: SessionStateEvent];
  message: [ownerId: string, event: { sessionId: string; data: string }];
  /** A binary data-channel message (text ones are `message`). */
  binary: [ownerId: string, event: { sessionId: string; data: Buffer }];
  /** For metrics: a `start` succeeded (`requestedAt` is `performance.now()` when it was asked). */
  started: [ownerId: string, event: { sessionId: string; source: string; requestedAt: number }];
  /** For metrics: a `start` was refused or failed with this code. */
  'start-failed': [ownerId: string, event: { code: ErrorCode }];
  /** A session left the service (after its last `state` event): await this instead of polling `count`. */
  closed: [event: { sessionId: string; ownerId: string; reason: string; source: string }];
}

/** The source a start asks for: by id from the registry, or the service's one source. */
export function resolveSource(registry: MediaSourceRegistry | undefined, fallback: MediaSource, id: string | undefined): MediaSource {
  if (registry) {
    const found = registry.get(id);
    if (found) return found;
    throw new StreamingError(ErrorCode.SOURCE_NOT_FOUND, `unknown source (known: ${registry.ids().join(', ')})`);
  }
  if (id === undefined || id === fallback.id) return fallback;
  throw new StreamingError(ErrorCode.SOURCE_NOT_FOUND, `unknown source (known: ${fallback.id})`);
}

/**
 * The codec of a new session. A client offer with a video m-line must list the source's
 * codec (H.264: packetization-mode 1 and a profile that decodes the source's), or the
 * session is refused with CODEC_NOT_SUPPORTED instead of streaming a black picture, unless
 * the offer has a data channel too (then data-only, below). Without a video m-line the
 * server offers the source's codec itself, and a browser that cannot decode it rejects the
 * video (see SessionVideo.addVideo).
 */
export function sessionCodec(source: MediaSource, offerSdp: string | undefined) {
  const own = source.codecParameters();
  if (!offerSdp || !hasLiveVideo(offerSdp)) return own;
  const codec = codecForOffer(source.codec, own, offerSdp);
  // Beside a data channel the session goes on data-only (`codec-not-supported`): the answer
  // rejects the video m-line (Session.answerOffer), as the client would reject the video
  // the server offers in the data-channel-first flow.
  if (!codec && hasDataChannel(offerSdp)) return own;
  if (!codec) {
    throw new StreamingError(
      ErrorCode.CODEC_NOT_SUPPORTED,
      `the offer's video does not list the source's codec (${source.codec}${source.codec === 'H264' ? ', packetization-mode 1' : ''})`,
    );
  }
  return codec;
}

/** The process's one DTLS certificate (made here, renewed here), as a worker adopts it. */
export type WorkerCertificate = Pick<DtlsCertificatePem, 'privateKey' | 'certPem' | 'signatureHash'>;

/** Where a worker-hosted session goes: the pool, and the certificate the worker adopts. */
export interface WorkerPlacement {
  pool: MediaWorkerPool;
  certificate: WorkerCertificate;
}

export async function workerCertificate(options: SessionOptions): Promise<WorkerCertificate> {
  const cert = (dtlsCertificates.get(options.certificateRotationMs) ?? (await dtlsCertificates.renew())) as unknown as DtlsCertificatePem;
  return { privateKey: cert.privateKey, certPem: cert.certPem, signatureHash: cert.signatureHash };
}

/**
 * A new session on this thread, or, with media workers, in the least-loaded one. Synchronous:
 * the caller checks its caps and registers the session with no await in between.
 */
export function createSessionHandle(a: {
  /** Set in worker mode: the session is made in the least-loaded worker. */
  worker?: WorkerPlacement;
  options: SessionOptions;
  id: string;
  ownerId: string;
  source: MediaSource;
  codec: ReturnType<typeof sessionCodec>;
  renegotiation: boolean;
  callbacks: SessionCallbacks;
}): SessionHandle {
  if (a.worker) {
    const remote = a.worker.pool.create({ id: a.id, ownerId: a.ownerId, source: a.source, codec: a.codec, renegotiation: a.renegotiation, callbacks: a.callbacks, certificate: a.worker.certificate });
    if (!remote) throw new StreamingError(ErrorCode.CAPACITY_EXCEEDED, 'no media worker is available');
    return remote;
  }
  const session = Session.create({ id: a.id, ownerId: a.ownerId, source: a.source, codec: a.codec, options: a.options, callbacks: a.callbacks });
  session.renegotiation = a.renegotiation;
  return session;
}
