import { randomBytes } from 'node:crypto';

/** A tls-crypt key in OpenVPN's static key format: 256 random bytes, 16 lines of 32 hex characters. */
export function generateTlsCryptKey(): string {
  const hex = randomBytes(256).toString('hex');
  const lines = hex.match(/.{32}/g) ?? [];
  return [
    '#',
    '# 2048 bit OpenVPN static key',
    '#',
    '-----BEGIN OpenVPN Static key V1-----',
    ...lines,
    '-----END OpenVPN Static key V1-----',
    '',
  ].join('\n');
}
