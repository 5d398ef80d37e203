import type { ArgumentMetadata, Type } from '@nestjs/common';
import { StreamingError } from '../common/streaming-error';
import { ErrorCode, MAX_SDP_LENGTH } from '../protocol';
import {
  SessionAnswerDto,
  SessionCandidateDto,
  SessionIdDto,
  SessionOfferDto,
  StartSessionDto,
} from './dto/session.dto';
import { SignallingValidationPipe } from './validation.pipe';

const pipe = new SignallingValidationPipe();
const body = (metatype: Type<unknown>): ArgumentMetadata => ({ type: 'body', metatype });

const SID = '0b7e1c1e-7d0c-4f43-9a6b-2f0f8f6f1b55';
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';

async function failure(value: unknown, metatype: Type<unknown>): Promise<StreamingError> {
  try {
    await pipe.transform(value, body(metatype));
  } catch (err) {
    expect(err).toBeInstanceOf(StreamingError);
    const e = err as StreamingError;
    expect(e.code).toBe(ErrorCode.VALIDATION_FAILED);
    expect(typeof e.message).toBe('string');
    expect(e.message.length).toBeGreaterThan(0);
    expect(e.message.length).toBeLessThanOrEqual(1000);
    return e;
  }
  throw new Error(`expected ${JSON.stringify(value)?.slice(0, 80)} to be refused`);
}

describe('SignallingValidationPipe', () => {
  it.each([
    ['a string', 'session:start'],
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an array', [{ sessionId: SID }]],
    ['a boolean', true],
  ])('refuses %s as a payload', async (_what, value) => {
    for (const dto of [StartSessionDto, SessionIdDto, SessionAnswerDto, SessionOfferDto, SessionCandidateDto]) {
      const e = await failure(value, dto);
      expect(e.message).toBe('the payload must be an object');
    }
  });

  it('turns a valid payload into the DTO class, keeping its values', async () => {
    const out = await pipe.transform({ source: 'test', offer: { type: 'offer', sdp: SDP } }, body(StartSessionDto));
    expect(out).toBeInstanceOf(StartSessionDto);
    expect(out).toEqual({ source: 'test', offer: { type: 'offer', sdp: SDP } });
    expect(await pipe.transform({}, body(StartSessionDto))).toEqual({});
    expect(await pipe.transform({ sessionId: SID, candidate: null }, body(SessionCandidateDto))).toEqual({
      sessionId: SID,
      candidate: null,
    });
    expect(
      await pipe.transform(
        { sessionId: SID, candidate: { candidate: '', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: null } },
        body(SessionCandidateDto),
      ),
    ).toEqual({ sessionId: SID, candidate: { candidate: '', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: null } });
  });

  it('leaves arguments that are not the message body alone', async () => {
    const socket = { id: 'x' };
    expect(await pipe.transform(socket, { type: 'custom' })).toBe(socket);
    expect(await pipe.transform('not an object', { type: 'param' } as ArgumentMetadata)).toBe('not an object');
  });

  it('names the nested field that failed, with its path', async () => {
    const e = await failure({ offer: { type: 'answer', sdp: SDP } }, StartSessionDto);
    expect(e.message).toMatch(/\boffer\.type\b/);
    const e2 = await failure({ sessionId: SID, candidate: { candidate: 'c', sdpMLineIndex: -1 } }, SessionCandidateDto);
    expect(e2.message).toMatch(/\bcandidate\.sdpMLineIndex\b/);
    const e3 = await failure({ sessionId: SID, answer: { type: 'answer', sdp: 42 } }, SessionAnswerDto);
    expect(e3.message).toMatch(/\banswer\.sdp\b/);
  });

  it('names every failing field, not only the first', async () => {
    const e = await failure({ sessionId: 'nope', offer: { type: 'x', sdp: 'y' } }, SessionOfferDto);
    expect(e.message).toMatch(/\bsessionId\b/);
    expect(e.message).toMatch(/\boffer\.type\b/);
    expect(e.message).toMatch(/\boffer\.sdp\b/);
  });

  it('refuses unknown fields, at the top level and nested', async () => {
    const e = await failure({ sessionId: SID, extra: 1 }, SessionIdDto);
    expect(e.message).toMatch(/\bextra\b/);
    const e2 = await failure({ offer: { type: 'offer', sdp: SDP, more: true } }, StartSessionDto);
    expect(e2.message).toMatch(/\boffer\.more\b/);
  });

  it('refuses wrong types', async () => {
    await failure({ source: 42 }, StartSessionDto);
    await failure({ source: '' }, StartSessionDto);
    await failure({ offer: 'v=0\r\n' }, StartSessionDto);
    await failure({ offer: [SDP] }, StartSessionDto);
    await failure({ sessionId: SID }, SessionCandidateDto); // candidate missing (null is the only empty value)
    await failure({ sessionId: SID, candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' }, SessionCandidateDto);
    await failure({ sessionId: SID, candidate: { candidate: 7 } }, SessionCandidateDto);
    await failure({ sessionId: SID, candidate: { candidate: 'c', sdpMLineIndex: 1.5 } }, SessionCandidateDto);
    await failure({ sessionId: 7 }, SessionIdDto);
    await failure({ sessionId: SID.toUpperCase().replace('4F43', '1F43') }, SessionIdDto); // uuid v1, not v4
  });

  it('accepts real ICE candidate lines and the end-of-candidates marker', async () => {
    for (const candidate of [
      '', // end of candidates
      'candidate:2b1f0d2c8e9a40b3c7d5e6f71 1 udp 2130706431 127.0.0.1 50123 typ host', // werift
      'candidate:842163049 1 udp 1677729535 203.0.113.7 57880 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag Wb2x network-cost 999', // Chrome
      'candidate:3 1 tcp 1518280447 192.168.1.2 9 typ host tcptype active generation 0 ufrag Wb2x network-id 1',
      'candidate:0 1 UDP 2122252543 192.168.1.2 55555 typ host', // Firefox
      'candidate:1 1 udp 2113937151 c2a9f3a8-0000-4000-8000-000000000000.local 54321 typ host generation 0',
      'candidate:4 1 UDP 8331263 2001:db8::1 3478 typ relay raddr 2001:db8::2 rport 50000',
      '1 1 udp 2130706431 127.0.0.1 50123 typ host', // werift also takes it without the prefix
    ]) {
      await expect(
        pipe.transform({ sessionId: SID, candidate: { candidate, sdpMid: '0' } }, body(SessionCandidateDto)),
      ).resolves.toEqual({ sessionId: SID, candidate: { candidate, sdpMid: '0' } });
    }
  });

  it('refuses malformed ICE candidate lines without echoing them', async () => {
    for (const candidate of [
      'candidate:garbage',
      'garbage',
      ' ',
      'candidate:1 1 udp notanumber 127.0.0.1 9 typ host', // werift would take NaN as the priority
      'candidate:1 1 udp 1 127.0.0.1 port typ host',
      'candidate:1 1 udp 1 127.0.0.1', // too short
      'candidate:1 1 udp 1 127.0.0.1 9 host host',
      'candidate:1 1 udp 1 127.0.0.1 9 typ host raddr', // dangling name
      'candidate:1 1 udp 1 127.0.0.1 9 typ host\r\na=garbage:1',
      'a=candidate:1 1 udp 1 127.0.0.1 9 typ host',
    ]) {
      const e = await failure({ sessionId: SID, candidate: { candidate, sdpMLineIndex: 0 } }, SessionCandidateDto);
      expect(e.message).toBe('candidate.candidate is not an ICE candidate line');
    }
  });

  it('refuses an SDP over MAX_SDP_LENGTH and one that does not start with v=0', async () => {
    const long = 'v=0\r\n' + 'a'.repeat(MAX_SDP_LENGTH);
    const e = await failure({ offer: { type: 'offer', sdp: long } }, StartSessionDto);
    expect(e.message).toMatch(/\boffer\.sdp\b/);
    await failure({ offer: { type: 'offer', sdp: 'o=- 1 1 IN IP4 0.0.0.0\r\n' } }, StartSessionDto);
    // Exactly MAX_SDP_LENGTH is allowed.
    const max = 'v=0\r\n' + 'a'.repeat(MAX_SDP_LENGTH - 5);
    await expect(pipe.transform({ offer: { type: 'offer', sdp: max } }, body(StartSessionDto))).resolves.toBeDefined();
  });

  it('never echoes the submitted values in the message', async () => {
    const secret = 'S3CR3T-VALUE-';
    const cases: [unknown, Type<unknown>][] = [
      [{ source: 12345678901 }, StartSessionDto],
      [{ source: secret.repeat(20) }, StartSessionDto], // too long
      [{ offer: { type: secret, sdp: SDP } }, StartSessionDto],
      [{ offer: { type: 'offer', sdp: 'v=0\r\n' + secret.repeat(3000) } }, StartSessionDto],
      [{ offer: { type: 'offer', sdp: secret } }, StartSessionDto],
      [{ sessionId: secret }, SessionIdDto],
      [{ sessionId: SID, answer: { type: 'answer', sdp: { nested: secret } } }, SessionAnswerDto],
      [{ sessionId: SID, candidate: { candidate: secret.repeat(100) } }, SessionCandidateDto],
      [{ sessionId: SID, candidate: { candidate: 'c', usernameFragment: secret.repeat(30) } }, SessionCandidateDto],
      [{ sessionId: SID, extra: secret }, SessionIdDto],
    ];
    for (const [value, dto] of cases) {
      const e = await failure(value, dto);
      expect(e.message).not.toContain('S3CR3T');
      expect(e.message).not.toContain('12345678901');
    }
  });
});
