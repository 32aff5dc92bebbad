// Argument parsers and usage errors shared by the commands: both end in exit code 2.
import { CommanderError, InvalidArgumentError } from 'commander';

/** A parser for an integer option or argument within [min, max]. */
export function int(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = /^\s*-?\d+\s*$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

/** A usage error the CLI prints as one line and ends with exit code 2. */
export function usageError(message: string): CommanderError {
  return new CommanderError(2, 'viridian.usage', `error: ${message}`);
}
