import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUILTIN_IMAGES, type BuiltinImage } from './guests/index.js';

/** A sibling module's URL: the compiled `.js` when it exists, else the `.ts` source (tests, development). */
export function moduleUrl(relative: string): string {
  const js = new URL(relative, import.meta.url);
  if (existsSync(fileURLToPath(js))) return js.href;
  const ts = new URL(js.href.replace(/\.js$/, '.ts'));
  return existsSync(fileURLToPath(ts)) ? ts.href : js.href;
}

/** The module URL of a built-in guest program (its default export is the program). */
export function builtinImageUrl(name: BuiltinImage): string {
  if (!Object.hasOwn(BUILTIN_IMAGES, name)) throw new RangeError(`unknown built-in image "${name}"`);
  return moduleUrl(`./guests/${name}.js`);
}
