import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../../shared/http/log-redaction.js';

describe('redactSecrets', () => {
  it('removes PEM blocks and inline profile keys', () => {
    expect(
      redactSecrets('a -----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE----- b <key>\nKKK\n</key> c'),
    ).toBe('a [redacted PEM] b [redacted key] c');
  });
});
