import azureFunctions from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { makeHealthzHandler } from '../../functions/healthz.js';

const { HttpRequest, InvocationContext } = azureFunctions;

describe('GET /api/healthz', () => {
  it('answers 200 with status and version', async () => {
    const response = await makeHealthzHandler()(
      new HttpRequest({ method: 'GET', url: 'http://localhost/api/healthz' }),
      new InvocationContext({ functionName: 'healthz' }),
    );
    expect(response).toStrictEqual({ status: 200, jsonBody: { status: 'ok', version: '0.1.0' } });
  });
});
