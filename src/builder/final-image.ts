/**
 * The image of each target platform from its final stage, as BuildKit's image exporter makes it:
 * the stage's config (the target platform when one was asked for, else the stage's own:
 * dockerfile2llb's implicit target), the build's labels over the Dockerfile's, OCI's base-image
 * annotations beside the build's, the inline cache in the config where asked; several platforms
 * make an index. Attestations will go here too.
 */
import { assembleImage, assembleIndex, type BuiltArtifact, type BuiltImage, type Platform } from '../image/index.js';
import type { BuiltStage } from './solve.js';
import { imageConfig, type SettledStage } from './stage.js';

export interface FinalImageOptions {
  /** The target platforms, in the order built. */
  readonly platforms: readonly Platform[];
  /** Whether platforms were asked for (else each config names its stage's platform). */
  readonly explicit: boolean;
  /** The config's and history's `created`. */
  readonly created: string;
  /** The inline cache of a final stage, under `inlineKey` in its config (cacheTo type inline). */
  readonly inlineCache?: (final: SettledStage) => unknown;
  readonly inlineKey?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export function finalImages(built: readonly BuiltStage[], o: FinalImageOptions): { finals: SettledStage[]; images: BuiltImage[]; artifact: BuiltArtifact } {
  const finals = built.map((b) => b.state);
  const images = finals.map((final, i) => {
    const plainConfig = imageConfig(final, o.explicit ? (o.platforms[i] as Platform) : (built[i] as BuiltStage).platform, o.created);
    const config = o.inlineCache === undefined || o.inlineKey === undefined
      ? plainConfig
      : ({ ...plainConfig, [o.inlineKey]: o.inlineCache(final) } as typeof plainConfig);
    const labels = { ...config.config.Labels, ...o.labels };
    // which base the image was built on (OCI's standard annotations)
    const annotations = final.base === undefined ? undefined : {
      'org.opencontainers.image.base.name': final.base.name,
      'org.opencontainers.image.base.digest': final.base.digest,
    };
    return assembleImage(
      Object.keys(labels).length === 0 ? config : { ...config, config: { ...config.config, Labels: labels } },
      final.layers, { ...annotations, ...o.annotations },
    );
  });
  const artifact: BuiltArtifact = images.length === 1 ? (images[0] as BuiltImage) : assembleIndex(images);
  return { finals, images, artifact };
}
