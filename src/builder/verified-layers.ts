/**
 * Base image layers checked before use: a layer's claimed diffID (from its image's config) must be
 * the sha256 of its uncompressed bytes, computed once per cache (DiffIdRecord) and once per build
 * for layers in flight (one promise per digest). Until then nothing is named by that diffID: no
 * layer folder, no extracted body, no saved tree, no output's config, so an image that claims
 * another image's diffID poisons nothing (step keys are made from chain keys, never from diffIDs:
 * cache-key.ts). Layers keel writes itself are recorded as they are made.
 */
import type { DiffIdRecord } from '../cache/index.js';
import { KeelError } from '../errors.js';
import type { BlobReader, Digest, Layer } from '../image/index.js';
import { computeDiffId, type UnpackLimits } from '../tree/index.js';

export class VerifiedLayers {
  private readonly checking = new Map<string, Promise<void>>();

  constructor(private readonly record: DiffIdRecord, private readonly blobs: BlobReader, private readonly limits: UnpackLimits) {}

  /**
   * Resolves when `layer`'s diffID is its content's; E_DIGEST_MISMATCH otherwise. What is named by
   * a diffID (a layer folder, extracted bodies, a saved tree, an output's config) waits for this.
   */
  verify(layer: Layer, signal?: AbortSignal): Promise<void> {
    const key = `${layer.digest} ${layer.diffId}`;
    let check = this.checking.get(key);
    if (check === undefined) {
      check = this.check(layer, signal);
      this.checking.set(key, check);
      check.catch(() => this.checking.delete(key));
    }
    return check;
  }

  /**
   * A pulled layer whose blob (verified against its digest) was found to hold `diffId` as it
   * downloaded: recorded, and checked against the claim as verify() would.
   */
  learned(layer: Layer, diffId: Digest): Promise<void> {
    const key = `${layer.digest} ${layer.diffId}`;
    if (!this.checking.has(key)) {
      const check = this.record.put(layer.digest, diffId).then(() => claimHolds(layer, diffId));
      this.checking.set(key, check);
      check.catch(() => this.checking.delete(key));
    }
    return (this.checking.get(key) as Promise<void>).catch(() => undefined); // a mismatch is verify()'s to report
  }

  /** A layer keel wrote: its diffID was computed from the bytes it wrote. */
  made(layer: Layer): Promise<void> {
    this.checking.set(`${layer.digest} ${layer.diffId}`, Promise.resolve());
    return this.record.put(layer.digest, layer.diffId);
  }

  private async check(layer: Layer, signal?: AbortSignal): Promise<void> {
    let known = await this.record.get(layer.digest);
    if (known === undefined) {
      known = await computeDiffId(this.blobs, layer, this.limits, signal);
      await this.record.put(layer.digest, known);
    }
    claimHolds(layer, known);
  }
}

/** E_DIGEST_MISMATCH unless the layer's content is the diffID it claims. */
function claimHolds(layer: Layer, content: Digest): void {
  if (content !== layer.diffId) {
    throw new KeelError('E_DIGEST_MISMATCH', `layer ${layer.digest} claims diffID ${layer.diffId}, but its content is ${content}`);
  }
}
