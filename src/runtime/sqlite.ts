// The one import of bun:sqlite (runtime-specific APIs stay fenced in src/runtime/).
export { Database } from 'bun:sqlite';
