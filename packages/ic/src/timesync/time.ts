import { WLTIMEDELTA } from '../wire/defs.js';

/** 100 ns ticks since 1601-01-01 from milliseconds since the Unix epoch (fractions kept to 100 ns). */
export const unixMsToFiletime = (ms: number): bigint => BigInt(Math.round(ms * 10_000)) + WLTIMEDELTA;
/** Milliseconds since the Unix epoch from 100 ns ticks since 1601-01-01. */
export const filetimeToUnixMs = (t: bigint): number => Number(t - WLTIMEDELTA) / 10_000;

/** The host's UTC clock as 100 ns ticks since 1601, with sub-millisecond resolution. */
export const hostFiletimeNow = (): bigint => unixMsToFiletime(performance.timeOrigin + performance.now());
