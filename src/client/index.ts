export * from './streaming-client.js';
export * from './stats.js';
export * from './words.js';
export * from '../protocol/index.js';
