/**
 * The Dockerfile a build or a check reads: a path in the context (or absolute), or the text given,
 * with the name messages give it as BuildKit names it (the file's name, `Dockerfile.alp:3: ...`,
 * or the path given in the context).
 */
import { readFile } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { KeelError } from '../errors.js';

export interface DockerfileText {
  readonly text: string;
  readonly filename: string;
  /** Where it was read from; none for a text given. */
  readonly path?: string;
}

export async function readDockerfileText(contextDir: string, given: string | { readonly text: string } | undefined): Promise<DockerfileText> {
  const df = given ?? 'Dockerfile';
  if (typeof df !== 'string') return { text: df.text, filename: 'Dockerfile' };
  const path = isAbsolute(df) ? df : join(contextDir, df);
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new KeelError('E_BUILD_INPUT', `cannot read the Dockerfile ${path}: ${e.code ?? e.message}`);
  });
  return { text, filename: isAbsolute(df) ? basename(df) : df, path };
}
