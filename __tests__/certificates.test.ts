import { expect, test } from '@jest/globals';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { createCertificateAuthority } from '../src/agent/certificates.ts';

/**
 * The forward proxy's certificates, written in DER by hand: each must parse (Node's X509Certificate and OpenSSL's
 * secure context), chain to the CA, name its host, and the CA may sign for the named hosts only. Many are made, for
 * a random serial once made 1 in 256 of them invalid (a leading zero byte DER forbids).
 */

test('2,000 leaves and 200 CAs all parse, verify and serve', () => {
  for (let i = 0; i < 200; i++) {
    const ca = createCertificateAuthority(['app.example.com', '*.corp.example']);
    expect(new X509Certificate(ca.certificatePem).ca).toBe(true);
    for (let j = 0; j < 10; j++) {
      const host = `h${i}-${j}.corp.example`;
      const { certificatePem, keyPem } = ca.leafFor(host);
      const leaf = new X509Certificate(certificatePem);
      expect(leaf.verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(true);
      expect(leaf.checkHost(host)).toBe(host);
      expect(() => createSecureContext({ cert: certificatePem, key: keyPem })).not.toThrow();
    }
  }
});

test('the CA is constrained to the named hosts and signs leaves only', () => {
  const ca = new X509Certificate(createCertificateAuthority(['app.example.com']).certificatePem);
  const text = ca.toLegacyObject() as unknown as { ext_key_usage?: string[] };
  expect(ca.ca).toBe(true);
  expect(text.ext_key_usage).toBeUndefined();
  // Node shows the extensions it knows; the constraint's host and the path length are in the DER.
  expect(ca.raw.includes(Buffer.from('app.example.com'))).toBe(true);
});

test('a long session renews the CA and its leaves before their day ends, with the same keys (the SPKI a browser was given)', () => {
  let now = new Date('2026-12-04T00:00:00Z');
  const ca = createCertificateAuthority(['app.example.com'], () => now);
  const first = { ca: ca.certificatePem, leaf: ca.leafFor('app.example.com').certificatePem, spki: ca.leafSpkiSha256 };
  now = new Date('2026-12-04T21:59:00Z');
  expect(ca.renewIfDue()).toBe(false);
  expect(ca.leafFor('app.example.com').certificatePem).toBe(first.leaf);
  now = new Date('2026-12-04T22:01:00Z');
  // leafFor renews on its own; the agent's timer calls renewIfDue to rewrite the CA file.
  const renewed = ca.leafFor('app.example.com').certificatePem;
  expect(renewed).not.toBe(first.leaf);
  expect(ca.certificatePem).not.toBe(first.ca);
  expect(ca.renewIfDue()).toBe(false);
  const [oldLeaf, newLeaf, newCa] = [new X509Certificate(first.leaf), new X509Certificate(renewed), new X509Certificate(ca.certificatePem)];
  expect(new Date(newLeaf.validTo).getTime()).toBeGreaterThan(new Date(oldLeaf.validTo).getTime() + 20 * 3600_000);
  expect(newLeaf.verify(newCa.publicKey)).toBe(true);
  expect(newLeaf.publicKey.export({ type: 'spki', format: 'der' })).toEqual(oldLeaf.publicKey.export({ type: 'spki', format: 'der' }));
  expect(newCa.publicKey.export({ type: 'spki', format: 'der' })).toEqual(
    new X509Certificate(first.ca).publicKey.export({ type: 'spki', format: 'der' }),
  );
  expect(ca.leafSpkiSha256).toBe(first.spki);
});
