import { expect, test } from 'vitest';
import { HV_PLACEHOLDER } from './index.js';

test('placeholder', () => expect(HV_PLACEHOLDER).toBe(0));
