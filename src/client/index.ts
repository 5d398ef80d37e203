export * from './streaming-client';
export * from '../protocol';
