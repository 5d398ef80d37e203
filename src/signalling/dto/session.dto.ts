import { Type } from 'class-transformer';
import {
  Equals,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { MAX_SDP_LENGTH, MEDIA_KINDS } from '../../protocol';
import type {
  IceCandidateInit,
  SessionAnswerRequest,
  SessionCandidateRequest,
  MediaKind,
  SessionIdRequest,
  SessionMediaRequest,
  SessionOfferRequest,
  SessionStartRequest,
} from '../../protocol';

// An SDP must at least start with the version line; werift parses the rest.
const SDP_START = /^v=0\r?\n/;

export class OfferDto {
  @Equals('offer')
  type!: 'offer';

  @IsString()
  @MaxLength(MAX_SDP_LENGTH)
  @Matches(SDP_START, { message: 'sdp is not an SDP (it must start with "v=0")' })
  sdp!: string;
}

export class AnswerDto {
  @Equals('answer')
  type!: 'answer';

  @IsString()
  @MaxLength(MAX_SDP_LENGTH)
  @Matches(SDP_START, { message: 'sdp is not an SDP (it must start with "v=0")' })
  sdp!: string;
}

/**
 * An ICE candidate line (RFC 8839 section 5.1), with or without the "candidate:" prefix:
 * foundation, component, transport, priority, address, port, "typ" type, then name/value
 * pairs (raddr, rport, generation, ufrag...). Empty means end of candidates. werift accepts
 * some malformed lines (a non-numeric priority or port becomes NaN), so check them here.
 */
const ICE_CANDIDATE =
  /^(?:|(?:candidate:)?[A-Za-z0-9+/]{1,32} \d{1,3} [A-Za-z][A-Za-z0-9-]{0,15} \d{1,10} [^\s]{1,255} \d{1,5} typ [A-Za-z]{1,16}(?: [^\s]+ [^\s]+)*)$/;

export class IceCandidateDto implements IceCandidateInit {
  @IsString()
  @MaxLength(1024)
  @Matches(ICE_CANDIDATE, { message: 'candidate is not an ICE candidate line' })
  candidate!: string;

  @IsOptional()
  @IsString()
  @MaxLength(64)
  sdpMid?: string | null;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(255)
  sdpMLineIndex?: number | null;

  @IsOptional()
  @IsString()
  @MaxLength(256)
  usernameFragment?: string | null;
}

/** `sources:list` takes an empty object: any field is refused by the validation pipe. */
export class SourcesListDto {}

export class SessionIdDto implements SessionIdRequest {
  @IsUUID('4', { message: 'sessionId must be a session id' })
  sessionId!: string;
}

/** `session:stop-video` / `session:resume-video`: the session, and optionally one kind of media. */
export class SessionMediaDto extends SessionIdDto implements SessionMediaRequest {
  @IsOptional()
  @IsIn(MEDIA_KINDS, { message: 'kind must be "video" or "audio"' })
  kind?: MediaKind;
}

export class StartSessionDto implements SessionStartRequest {
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(128)
  source?: string;

  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => OfferDto)
  offer?: OfferDto;
}

export class SessionAnswerDto extends SessionIdDto implements SessionAnswerRequest {
  @IsObject()
  @ValidateNested()
  @Type(() => AnswerDto)
  answer!: AnswerDto;
}

export class SessionOfferDto extends SessionIdDto implements SessionOfferRequest {
  @IsObject()
  @ValidateNested()
  @Type(() => OfferDto)
  offer!: OfferDto;
}

export class SessionCandidateDto extends SessionIdDto implements SessionCandidateRequest {
  // null is the end of candidates; an object must be a valid candidate.
  @ValidateIf((o: SessionCandidateDto) => o.candidate !== null)
  @IsObject()
  @ValidateNested()
  @Type(() => IceCandidateDto)
  candidate!: IceCandidateDto | null;
}
