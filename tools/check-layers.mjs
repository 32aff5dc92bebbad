#!/usr/bin/env node
// Checks that every workspace package depends only on lower layers (tools/layers.json) and
// imports other workspace packages only through the subpaths their `exports` map declares.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const { layers } = JSON.parse(readFileSync(join(root, 'tools/layers.json'), 'utf8'));
const groups = ['packages', 'apps', 'tools', 'examples'];
const problems = [];

const packages = new Map();
for (const group of groups) {
  let entries = [];
  try {
    entries = readdirSync(join(root, group));
  } catch {
    continue;
  }
  for (const entry of entries) {
    const dir = join(root, group, entry);
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      packages.set(manifest.name, { dir, manifest });
    } catch {
      // not a package folder
    }
  }
}

for (const [name, { dir, manifest }] of packages) {
  const layer = layers[name];
  if (layer === undefined && !name.startsWith('@viridian-example/')) {
    problems.push(`${name}: has no layer in tools/layers.json`);
    continue;
  }
  const deps = { ...manifest.dependencies, ...manifest.devDependencies, ...manifest.peerDependencies };
  for (const dep of Object.keys(deps)) {
    if (!packages.has(dep)) continue;
    const depLayer = layers[dep];
    if (layer !== undefined && depLayer !== undefined && depLayer >= layer) {
      problems.push(
        `${name} (layer ${layer}) depends on ${dep} (layer ${depLayer}): only lower layers are allowed`,
      );
    }
  }
  for (const file of sourceFiles(join(dir, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/from\s+'((?:@viridian\/[\w-]+|viridian)(\/[^']*)?)'/g)) {
      const [, spec, subpath] = match;
      const target = spec.startsWith('@viridian/') ? spec.split('/').slice(0, 2).join('/') : 'viridian';
      const targetPkg = packages.get(target);
      if (target === name || targetPkg === undefined) continue;
      const exportsMap = targetPkg.manifest.exports ?? {};
      const key = subpath ? `.${subpath}` : '.';
      if (!(key in exportsMap))
        problems.push(`${relative(root, file)}: imports ${spec}, which ${target} does not export`);
      if (!(target in deps))
        problems.push(`${relative(root, file)}: imports ${target} without declaring it in package.json`);
    }
  }
}

function* sourceFiles(dir) {
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (path.endsWith('.ts')) yield path;
  }
}

if (problems.length > 0) {
  process.stderr.write(`layer check failed:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`layer check: ${packages.size} packages, dependencies point down the layers\n`);
