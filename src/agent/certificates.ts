import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

// The forward proxy's certificate authority, made fresh for each run: an ECDSA P-256 CA whose key exists only in this
// process's memory, name-constrained to the hosts the proxy intercepts, and one leaf certificate per host, signed on
// first use. Node's crypto makes the keys and signatures; the certificates are written here in DER, a few dozen
// lines, rather than by a library (measured against @peculiar/x509 and node-forge in the README's Development).

export interface CertificateAuthority {
  /** The CA certificate, PEM: what a browser is told to trust for this run (renewed with the same key and name). */
  readonly certificatePem: string;
  /** base64 of the SHA-256 of the CA's SubjectPublicKeyInfo: Chromium's --ignore-certificate-errors-spki-list. */
  readonly spkiSha256: string;
  /** The same for the leaves' key (one key for every leaf of the run), which Chromium matches on the leaf. */
  readonly leafSpkiSha256: string;
  /** A certificate and key for `host`, signed by this CA (made once per host and validity, then reused). */
  leafFor(host: string): { certificatePem: string; keyPem: string };
  /**
   * Renews the CA certificate and forgets the leaves once less than RENEW_BEFORE_MS of their validity is left (a CLI
   * proxy may run for days). Keys stay, so a browser told the leaves' key hash goes on trusting them. Returns whether
   * it renewed (then the CA file is to be written again); leafFor does it too.
   */
  renewIfDue(): boolean;
}

/** Valid from an hour ago (a skewed clock) for a day, renewed two hours before that day ends. */
const VALID_BEFORE_MS = 3600_000;
const VALID_FOR_MS = 24 * 3600_000;
export const RENEW_BEFORE_MS = 2 * 3600_000;

/** `hosts` are DNS names, or `*.` and a domain for its direct subdomains; the CA may sign for these only. */
export function createCertificateAuthority(hosts: readonly string[], clock: () => Date = () => new Date()): CertificateAuthority {
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const leafKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caSpki = ca.publicKey.export({ type: 'spki', format: 'der' });
  const leafSpki = leafKey.publicKey.export({ type: 'spki', format: 'der' });
  const caName = name(`iap-token proxy CA ${randomBytes(4).toString('hex')}`);
  const caKeyId = keyIdentifier(caSpki);
  const caCertificate = (notBefore: Date, notAfter: Date): string =>
    pem(
      certificate(
        {
          issuer: caName,
          subject: caName,
          notBefore,
          notAfter,
          spki: caSpki,
          extensions: [
            extension(OID.basicConstraints, true, seq(bool(true), integer(Buffer.from([0])))), // a CA of leaves only
            extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)), // keyCertSign, cRLSign
            extension(OID.subjectKeyIdentifier, false, octets(caKeyId)),
            // Where the library allows, the CA can vouch for the named hosts only, whoever gets hold of its certificate.
            extension(
              OID.nameConstraints,
              true,
              seq(tag(0xa0, Buffer.concat(hosts.map((host) => seq(tag(0x82, Buffer.from(constraintOf(host)))))))),
            ),
          ],
        },
        ca.privateKey,
      ),
    );
  const leafCertificate = (host: string, notBefore: Date, notAfter: Date): string =>
    pem(
      certificate(
        {
          issuer: caName,
          subject: name(host),
          notBefore,
          notAfter,
          spki: leafSpki,
          extensions: [
            extension(OID.basicConstraints, true, seq()),
            extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
            extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
            extension(OID.subjectAltName, false, seq(tag(0x82, Buffer.from(host)))),
            extension(OID.authorityKeyIdentifier, false, seq(tag(0x80, caKeyId))),
          ],
        },
        ca.privateKey,
      ),
    );
  const leafKeyPem = leafKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const leaves = new Map<string, string>();
  let validity = { notBefore: new Date(0), notAfter: new Date(0) };
  let caPem = '';
  const renewIfDue = (): boolean => {
    const now = clock().getTime();
    if (validity.notAfter.getTime() - now > RENEW_BEFORE_MS) return false;
    validity = { notBefore: new Date(now - VALID_BEFORE_MS), notAfter: new Date(now + VALID_FOR_MS) };
    caPem = caCertificate(validity.notBefore, validity.notAfter);
    leaves.clear();
    return true;
  };
  renewIfDue();
  return {
    get certificatePem() {
      return caPem;
    },
    spkiSha256: createHash('sha256').update(caSpki).digest('base64'),
    leafSpkiSha256: createHash('sha256').update(leafSpki).digest('base64'),
    renewIfDue,
    leafFor(host) {
      renewIfDue();
      let leaf = leaves.get(host);
      if (!leaf) {
        leaf = leafCertificate(host, validity.notBefore, validity.notAfter);
        leaves.set(host, leaf);
      }
      return { certificatePem: leaf, keyPem: leafKeyPem };
    },
  };
}

/** A name constraint's dNSName: the host itself, or for `*.example.com` the domain (which covers its subdomains). */
function constraintOf(host: string): string {
  return host.startsWith('*.') ? host.slice(2) : host;
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  nameConstraints: '2.5.29.30',
} as const;

interface CertificateFields {
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  readonly extensions: readonly Buffer[];
}

/** An X.509 v3 certificate (RFC 5280), signed ECDSA with SHA-256. */
function certificate(fields: CertificateFields, signer: KeyObject): Buffer {
  const serial = randomBytes(16);
  // Positive, and with no leading zero byte: DER forbids the padding a cleared first byte would need.
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const tbs = seq(
    tag(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    fields.issuer,
    seq(utcTime(fields.notBefore), utcTime(fields.notAfter)),
    fields.subject,
    fields.spki,
    tag(0xa3, seq(...fields.extensions)),
  );
  return seq(tbs, algorithm, bitString(sign('sha256', tbs, signer), 0));
}

function name(commonName: string): Buffer {
  return seq(set(seq(oid(OID.commonName), tag(0x0c, Buffer.from(commonName, 'utf8')))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** RFC 5280's method 1: the SHA-1 of the subject public key's bits. */
function keyIdentifier(spki: Buffer): Buffer {
  // The key's bits are the SPKI's closing BIT STRING; for P-256 it is its last 65 bytes (an uncompressed point).
  return createHash('sha1')
    .update(spki.subarray(spki.length - 65))
    .digest();
}

function pem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

// DER, the few types a certificate needs.
function tag(type: number, content: Buffer): Buffer {
  const length = content.length;
  const head =
    length < 0x80
      ? Buffer.from([type, length])
      : length < 0x100
        ? Buffer.from([type, 0x81, length])
        : Buffer.from([type, 0x82, length >> 8, length & 0xff]);
  return Buffer.concat([head, content]);
}
function seq(...items: Buffer[]): Buffer {
  return tag(0x30, Buffer.concat(items));
}
function set(...items: Buffer[]): Buffer {
  return tag(0x31, Buffer.concat(items));
}
/** A non-negative INTEGER in its minimal DER form: no redundant leading zeros, one zero where the top bit is set. */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && ((bytes[start + 1] ?? 0) & 0x80) === 0) start++;
  const minimal = bytes.subarray(start);
  return tag(0x02, (minimal[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal);
}
function bool(value: boolean): Buffer {
  return tag(0x01, Buffer.from([value ? 0xff : 0]));
}
function octets(bytes: Buffer): Buffer {
  return tag(0x04, bytes);
}
function bitString(bytes: Buffer, unusedBits: number): Buffer {
  return tag(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}
function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const part = [arc & 0x7f];
    for (let value = arc >> 7; value > 0; value >>= 7) part.unshift((value & 0x7f) | 0x80);
    bytes.push(...part);
  }
  return tag(0x06, Buffer.from(bytes));
}
function utcTime(date: Date): Buffer {
  const text = date.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  return tag(0x17, Buffer.from(text));
}
