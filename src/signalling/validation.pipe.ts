import { ArgumentMetadata, Injectable, PipeTransform, ValidationError, ValidationPipe } from '@nestjs/common';
import { StreamingError } from '../common/streaming-error';
import { ErrorCode } from '../protocol';

/**
 * class-validator over every payload: unknown fields are refused, and a failure becomes
 * VALIDATION_FAILED with a message that names the fields but never echoes their values.
 */
@Injectable()
export class SignallingValidationPipe implements PipeTransform {
  private readonly inner = new ValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new StreamingError(ErrorCode.VALIDATION_FAILED, describe(errors)),
  });

  async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type !== 'body') return value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new StreamingError(ErrorCode.VALIDATION_FAILED, 'the payload must be an object');
    }
    // class-transformer recurses into every nested value, unknown fields too: a payload
    // nested a few thousand levels deep overflows its stack. No payload of ours nests past 3.
    if (depthExceeds(value, MAX_PAYLOAD_DEPTH)) {
      throw new StreamingError(ErrorCode.VALIDATION_FAILED, `the payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`);
    }
    return this.inner.transform(value, metadata);
  }
}

/** Deepest nesting of objects and arrays a payload may have (ours: 3). */
export const MAX_PAYLOAD_DEPTH = 8;

/** Whether objects/arrays nest deeper than `max`, without recursion (so without a stack to overflow). */
function depthExceeds(root: object, max: number): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (d > max) return true;
    for (const child of Object.values(v as object)) {
      if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
    }
  }
  return false;
}

function describe(errors: ValidationError[], prefix = ''): string {
  const parts: string[] = [];
  for (const e of errors) {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    if (e.constraints) {
      parts.push(...Object.values(e.constraints).map((m) => (m.startsWith(e.property) ? `${prefix ? prefix + '.' : ''}${m}` : `${path}: ${m}`)));
    }
    if (e.children?.length) parts.push(describe(e.children, path));
  }
  return parts.join('; ').slice(0, 1000) || 'invalid payload';
}
