/**
 * The gateway PKI: CA, server and client certificates (a generated RSA-2048 or EC P-256 key, or a
 * caller's CSR), the v2 CRL and the tls-crypt key. DER is written and read on Buffers (node-forge's
 * ASN.1 module for what is built once or read per CA); Node's native crypto generates keys, signs and
 * verifies. Signatures are SHA-256 (OpenVPN refuses SHA-1:
 * "ca md too weak"), with the usages `remote-cert-tls` checks; everything passes `openssl verify` /
 * `openssl crl -CAfile`.
 */
export type { CaMaterial } from './ca.js';
export { createCa } from './ca.js';
export { randomSerial } from './certificate.js';
export { readCertificateInfo } from './certificate-info.js';
export { buildCrl, canonicalSerial, crlNeedsRenewal, crlNumberOf, crlSerials } from './crl.js';
export type { IssuedCert } from './issue.js';
export { issueClientCert, issueServerCert } from './issue.js';
export { generateTlsCryptKey } from './tls-crypt.js';
export { DEFAULT_CLIENT_VALIDITY_DAYS } from './validity.js';
