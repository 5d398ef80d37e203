export * from './streaming-client';
export * from './stats';
export * from './words';
export * from '../protocol';
