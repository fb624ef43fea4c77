/**
 * A base image for two platforms, made without keel: busybox root folders for linux/amd64 and
 * linux/arm64 as layers (GNU tar, gzip), configs, manifests and an index written here as an OCI
 * layout, then pushed as one tag with `skopeo copy --all`. What keel pulls from it is checked
 * against what another tool wrote.
 */
import { createHash } from 'node:crypto';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { busyboxRootfs, DEFAULT_APPLETS, type BusyboxOptions } from './busybox-base';
import { BUSYBOX, BUSYBOX_ARM64, run } from './integration';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Push `ref` (registry/name:tag): an index of busybox for linux/amd64 and linux/arm64; resolves with the index's digest. */
export async function pushBusyboxIndex(dir: string, ref: string, opts: Omit<BusyboxOptions, 'busybox'> = {}): Promise<string> {
  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Buffer): Promise<{ digest: string; size: number }> => {
    const digest = sha(bytes);
    await writeFile(join(blobs, digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const manifests = [];
  for (const [architecture, binary] of [['amd64', BUSYBOX], ['arm64', BUSYBOX_ARM64 as string]] as const) {
    const rootfs = await busyboxRootfs(join(dir, architecture), { applets: [...DEFAULT_APPLETS, 'uname'], ...opts, busybox: binary });
    const tar = join(dir, `${architecture}.tar`);
    run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', rootfs, '-cf', tar, '.']);
    const raw = await readFile(tar);
    const layer = await put(gzipSync(raw));
    const config = await put(Buffer.from(JSON.stringify({
      architecture, os: 'linux', config: { Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [sha(raw)] }, history: [{ created_by: 'busybox' }],
    })));
    const manifest = await put(Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    })));
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { os: 'linux', architecture } });
  }
  const index = await put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests })));
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': 'base' } }],
  }));
  run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout}:base`, `docker://${ref}`]);
  return index.digest;
}
