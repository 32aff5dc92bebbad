import { resolve } from 'node:path';
import { fileKey, openChain, openLayer } from './disk.js';
import { VhdError, VhdOperationError } from './errors.js';
import { guidFromString } from './guid.js';
import type { Layer } from './layer.js';
import { VhdLayer, vhdParentReference } from './vhd.js';
import { VhdxLayer, vhdxParentLocator } from './vhdx.js';

/** File-system failures (missing file, no permission) become typed errors naming the file. */
export async function typed<T>(what: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof VhdError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new VhdOperationError('INVALID_ARGUMENT', `${what} ${path} cannot be opened: ${code}`);
  }
}

/**
 * Makes the differencing disk at `childPath` refer to `newParentPath` as its parent: its identity (VHD
 * unique id / VHDX DataWriteGuid, read from the file) and its locations. Used after merging a disk
 * into its own parent, whose children must then point at that parent. The new parent must open with
 * its whole chain, have the child's format, virtual size and logical sector size
 * (else PARENT_INCOMPATIBLE), and be neither the child nor one of its descendants (INVALID_ARGUMENT).
 * The child's current parent need not exist. Whether the new parent holds the content the child was
 * written against is the caller's knowledge, not something the files can show.
 */
export async function setParent(childPath: string, newParentPath: string): Promise<void> {
  childPath = resolve(childPath);
  newParentPath = resolve(newParentPath);
  const childKey = await typed('disk', childPath, () => fileKey(childPath));
  const parentKey = await typed('new parent', newParentPath, () => fileKey(newParentPath));
  if (childKey === parentKey) {
    throw new VhdOperationError('INVALID_ARGUMENT', `${childPath} cannot be its own parent`);
  }
  // Checks use read-only opens: a refused request changes no file (not even by replaying a log).
  const child = await typed('disk', childPath, () => openLayer(childPath, false));
  let parent: Layer | null = null;
  try {
    if (child.type !== 'differencing') {
      throw new VhdOperationError('NOT_DIFFERENCING', `${childPath} is not a differencing disk`);
    }
    parent = await typed('new parent', newParentPath, () =>
      openChain(newParentPath, false, new Set([childKey])),
    );
    const mismatch =
      parent.format !== child.format
        ? `a ${child.format} child needs a ${child.format} parent, not ${parent.format}`
        : parent.sizeBytes !== child.sizeBytes
          ? `virtual size ${parent.sizeBytes} differs from the child's ${child.sizeBytes}`
          : parent.sectorSize !== child.sectorSize
            ? `logical sector size ${parent.sectorSize} differs from the child's ${child.sectorSize}`
            : null;
    if (mismatch) throw new VhdOperationError('PARENT_INCOMPATIBLE', `${newParentPath}: ${mismatch}`);
  } catch (e) {
    await parent?.closeChain();
    throw e;
  } finally {
    await child.closeLayer();
  }
  try {
    const target = await typed('disk', childPath, () => openLayer(childPath, true));
    try {
      if (target instanceof VhdLayer) {
        const ref = await vhdParentReference(childPath, newParentPath, guidFromString(parent.identity()));
        await target.setParentReference(ref);
      } else if (target instanceof VhdxLayer) {
        await target.replaceParentLocator(vhdxParentLocator(childPath, newParentPath, parent.identity()));
      }
    } finally {
      await target.closeLayer();
    }
  } finally {
    await parent.closeChain();
  }
}
