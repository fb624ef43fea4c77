/** An OCI image archive made from layer tars given in the test (for base images keel's own builds would not make). */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

const digest = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Write an OCI layout archive of one linux/amd64 image whose layers are `tars` (uncompressed, bottom first), gzip-compressed. */
export async function ociArchiveOf(path: string, tars: readonly Buffer[], env: readonly string[] = ['PATH=/bin']): Promise<void> {
  const layers = tars.map((t) => ({ tar: t, blob: gzipSync(t) }));
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Env: env }, rootfs: { type: 'layers', diff_ids: layers.map((l) => digest(l.tar)) }, history: [],
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest(l.blob), size: l.blob.length })),
  }));
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest(manifest), size: manifest.length }] }));
  const p = pack();
  const parts: Buffer[] = [];
  p.on('data', (c: unknown) => parts.push(c as Buffer));
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const blob of [config, manifest, ...layers.map((l) => l.blob)]) p.entry({ name: `blobs/sha256/${digest(blob).slice(7)}`, mode: 0o644 }, blob);
  p.entry({ name: 'index.json', mode: 0o644 }, index);
  p.entry({ name: 'oci-layout', mode: 0o644 }, Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  p.finalize();
  await done;
  await writeFile(path, Buffer.concat(parts));
}
