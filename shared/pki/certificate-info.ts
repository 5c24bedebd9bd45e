/** Reading X.509 certificates (ours, or a CA of any key type) with forge's ASN.1 parser. */
import forge from 'node-forge';
import { InputError } from '../errors.js';
import type { Asn1 } from './asn1.js';
import { OID, bytesOf, childrenOf, contextChild, dateOf, fromDer, fromPem, oidOf, toDer } from './asn1.js';

/** The fields of a certificate this project reads. */
export interface ParsedCertificate {
  /** Lower-case hex of the serial's content bytes. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subject Name as parsed, to be reused as the issuer of what this certificate signs. */
  readonly subject: Asn1;
  readonly commonName: string;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Buffer;
  /** The content of the Subject Key Identifier extension, when present. */
  readonly subjectKeyId: Buffer | undefined;
}

function commonNameOf(name: Asn1): string {
  for (const rdn of childrenOf(name, 'Name'))
    for (const attribute of childrenOf(rdn, 'RelativeDistinguishedName')) {
      const [type, value] = childrenOf(attribute, 'AttributeTypeAndValue');
      if (oidOf(type, 'attribute type') === OID.commonName)
        return forge.util.decodeUtf8(bytesOf(value, 'commonName').toString('binary'));
    }
  return '';
}

function subjectKeyIdOf(extensions: Asn1 | undefined): Buffer | undefined {
  if (!extensions) return undefined;
  for (const ext of childrenOf(childrenOf(extensions, 'extensions')[0], 'Extensions')) {
    const parts = childrenOf(ext, 'Extension');
    if (oidOf(parts[0], 'extnID') !== OID.subjectKeyIdentifier) continue;
    const keyId = fromDer(bytesOf(parts[parts.length - 1], 'extnValue'));
    return bytesOf(keyId, 'keyIdentifier');
  }
  return undefined;
}

/** Parses a PEM certificate; throws an InputError when it is not one. */
export function parseCertificate(certPem: string): ParsedCertificate {
  const der = fromPem('CERTIFICATE', certPem);
  if (!der) throw new InputError('not a PEM certificate');
  try {
    const tbs = childrenOf(childrenOf(fromDer(der), 'Certificate')[0], 'TBSCertificate');
    // `version [0] EXPLICIT` is absent from v1 certificates.
    const at = contextChild(tbs.slice(0, 1), 0) ? 1 : 0;
    const [serial, , , period, subject, spki] = tbs.slice(at);
    const [notBefore, notAfter] = childrenOf(period, 'Validity');
    if (!subject || !spki) throw new Error('TBSCertificate is too short');
    return {
      serial: bytesOf(serial, 'serialNumber').toString('hex'),
      notBefore: dateOf(notBefore, 'notBefore'),
      notAfter: dateOf(notAfter, 'notAfter'),
      subject,
      commonName: commonNameOf(subject),
      spki: toDer(spki),
      subjectKeyId: subjectKeyIdOf(contextChild(tbs.slice(at + 6), 3)),
    };
  } catch (e: unknown) {
    throw new InputError('not a PEM certificate', [], { cause: e });
  }
}

/** Serial, validity and CN of a PEM certificate. */
export function readCertificateInfo(certPem: string): {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  commonName: string;
} {
  const { serial, notBefore, notAfter, commonName } = parseCertificate(certPem);
  return { serial, notBefore, notAfter, commonName };
}
