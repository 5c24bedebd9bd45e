import azureFunctions from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InputError } from '../../../shared/errors.js';
import { parseInput, queryObject } from '../../../shared/http/input-problems.js';

const { HttpRequest: Request } = azureFunctions;

describe('parseInput', () => {
  const schema = z.strictObject({ name: z.string(), lb: z.strictObject({ ranges: z.array(z.string()) }) });

  it('reports every problem as a JSON pointer, one per unknown field', () => {
    const error = (() => {
      try {
        parseInput(schema, { name: 1, lb: { ranges: ['ok', 2], extra: true }, 'a/b': 1 }, 'body');
      } catch (e: unknown) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).problems.map((p) => p.path).sort()).toStrictEqual(
      ['/a~1b', '/lb/extra', '/lb/ranges/1', '/name'].sort(),
    );
  });

  it('writes route parameters as {name} and query parameters as ?name', () => {
    const pathError = (() => {
      try {
        parseInput(z.object({ gateway: z.string().max(3) }), { gateway: 'long' }, 'path');
      } catch (e: unknown) {
        return e as InputError;
      }
      return undefined;
    })();
    expect(pathError?.problems[0]?.path).toBe('{gateway}');
  });
});

describe('queryObject', () => {
  it('returns each parameter once', () => {
    const request = new Request({ method: 'DELETE', url: 'http://h/api/x?force=true&a=1' });
    expect(queryObject(request)).toStrictEqual({ force: 'true', a: '1' });
  });

  it('rejects a repeated parameter instead of letting the last value win', () => {
    const request = new Request({ method: 'DELETE', url: 'http://h/api/x?force=false&force=true' });
    expect(() => queryObject(request)).toThrow(InputError);
    try {
      queryObject(request);
    } catch (e: unknown) {
      expect((e as InputError).problems).toStrictEqual([{ path: '?force', message: 'given more than once' }]);
    }
  });
});
