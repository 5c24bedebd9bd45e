/**
 * The codec of the `server-pki` Secret: a ServerPki as the Secret's data (keys are the file names the
 * pod reads) and back. The manifest builder writes it whole; the use-cases read it and patch single keys.
 */
import type { ServerPki } from './gateway.js';
import { SERVER_PKI_KEYS } from './names.js';

/** The Secret's data (decoded values) of a ServerPki. */
export function serverPkiSecretData(pki: ServerPki): Record<string, string> {
  const k = SERVER_PKI_KEYS;
  return {
    [k.caCrt]: pki.caCrt,
    [k.serverCrt]: pki.serverCrt,
    [k.serverKey]: pki.serverKey,
    [k.tlsCryptKey]: pki.tlsCryptKey,
    [k.crlPem]: pki.crlPem,
  };
}

/** The ServerPki in a Secret's data, or undefined when any key is missing or empty. */
export function parseServerPkiSecretData(data: Readonly<Record<string, string>>): ServerPki | undefined {
  const k = SERVER_PKI_KEYS;
  const [caCrt, serverCrt, serverKey, tlsCryptKey, crlPem] = [
    data[k.caCrt],
    data[k.serverCrt],
    data[k.serverKey],
    data[k.tlsCryptKey],
    data[k.crlPem],
  ];
  return caCrt && serverCrt && serverKey && tlsCryptKey && crlPem
    ? { caCrt, serverCrt, serverKey, tlsCryptKey, crlPem }
    : undefined;
}
