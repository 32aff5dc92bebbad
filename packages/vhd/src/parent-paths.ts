import { dirname, relative, resolve } from 'node:path';

export interface ParentLocations {
  /** Absolute host path of the parent. */
  absolute: string;
  /** Path from the child's directory in Windows form (`.\base.vhdx`, `..\disks\base.vhdx`), as Hyper-V writes it. */
  relative: string;
}

/** The parent's locations as a differencing disk at `childPath` records them. */
export function parentLocations(childPath: string, parentPath: string): ParentLocations {
  const absolute = resolve(parentPath);
  let rel = relative(dirname(resolve(childPath)), absolute)
    .split('/')
    .join('\\');
  if (!rel.startsWith('..')) rel = `.\\${rel}`;
  return { absolute, relative: rel };
}
