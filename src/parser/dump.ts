/**
 * BuildKit's `Node.Dump()` text for a parsed Dockerfile, byte-exact (see
 * shared/conformance/buildkit/FORMAT.md): one `(keyword ["flags"...] "args"...)` line per
 * instruction. In a recovered AST, lines BuildKit's parser itself rejected are left out.
 */
import type { Dockerfile, Instruction, InvalidInstruction, SyntaxNode } from './ast.js';
import { goQuote, goTrimSpace } from './go-text.js';

export function dump(ast: Dockerfile<Instruction | InvalidInstruction>): string {
  let out = '';
  for (const node of ast.instructions) {
    if (node.kind === 'INVALID' && node.level === 'line') continue;
    out += `(${dumpNode(node)})\n`;
  }
  return out;
}

function dumpNode(node: SyntaxNode): string {
  let s = node.keyword.value.toLowerCase();
  if (node.flags.length > 0) s += ` [${node.flags.map((f) => goQuote(f.raw)).join(' ')}]`;
  if (node.trigger !== undefined) s += ` (${dumpNode(node.trigger)})`;
  for (const a of node.args) s += ' ' + goQuote(a.value);
  return goTrimSpace(s);
}
