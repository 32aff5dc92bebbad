/** Guest images that ship with VMMS, by name. */
export const BUILTIN_IMAGES = {
  idle: 'wakes ten times a second and does nothing else',
  counter: 'counts ticks with a little arithmetic',
  primes: 'searches for primes without pause (processor-bound)',
  crash: 'fails with an uncaught error after about a second',
  stubborn: 'refuses every shutdown request',
  kvstore: 'a crash-consistent key-value store on the SCSI disk at LUN 0, verified as it runs',
} as const;
export type BuiltinImage = keyof typeof BUILTIN_IMAGES;
