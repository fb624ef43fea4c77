/**
 * The ARGs before the first FROM as BuildKit evaluates them: the predefined ones (platforms,
 * TARGETSTAGE), then the Dockerfile's global ARGs, build args over defaults.
 */
import { platformString, type Platform } from '../image/index.js';
import { expandWordWithMatches, type Instruction } from '../parser/index.js';

/**
 * The ARGs BuildKit defines before the first FROM (dockerfile2llb/platform.go defaultArgs):
 * TARGETPLATFORM and the rest, BUILDPLATFORM and the rest, and TARGETSTAGE (the target's name, else
 * the last stage's, else `default`); a build arg of the same name replaces the value.
 */
export function predefinedArgs(p: Platform, b: Platform, targetStage: string | undefined, buildArgs: Readonly<Record<string, string>> = {}): Map<string, string> {
  const defaults: Array<[string, string]> = [
    ['BUILDPLATFORM', platformString(b)], ['BUILDOS', b.os], ['BUILDOSVERSION', ''], ['BUILDARCH', b.architecture], ['BUILDVARIANT', b.variant ?? ''],
    ['TARGETPLATFORM', platformString(p)], ['TARGETOS', p.os], ['TARGETOSVERSION', ''], ['TARGETARCH', p.architecture], ['TARGETVARIANT', p.variant ?? ''],
    ['TARGETSTAGE', targetStage === undefined || targetStage === '' ? 'default' : targetStage],
  ];
  return new Map(defaults.map(([k, v]) => [k, Object.hasOwn(buildArgs, k) ? (buildArgs[k] as string) : v]));
}

/** The global ARGs: their values (build args over defaults, defaults expanded in order), and every declared name. */
export interface MetaArgs {
  readonly values: Map<string, string>;
  readonly declared: ReadonlySet<string>;
}

export function metaArgs(args: ReadonlyArray<Extract<Instruction, { kind: 'ARG' }>>, predefined: ReadonlyMap<string, string>, buildArgs: Readonly<Record<string, string>>, escape: '\\' | '`'): MetaArgs {
  const values = new Map(predefined);
  const declared = new Set<string>();
  for (const ins of args) {
    for (const d of ins.declarations) {
      declared.add(d.name);
      const given = Object.hasOwn(buildArgs, d.name) ? buildArgs[d.name] : undefined;
      if (given !== undefined) values.set(d.name, given);
      else if (d.default !== undefined) {
        try {
          values.set(d.name, expandWordWithMatches(d.default, values, { escape }).result);
        } catch {
          // the build reports a bad default
        }
      }
    }
  }
  return { values, declared };
}

