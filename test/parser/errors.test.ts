/**
 * Every kind of bad input gets a ParseError with a code, a range and BuildKit's text; parse()
 * without `recover` throws one ParseError listing them all.
 */
import { parse, ParseError, type ParseErrorCode } from '../../src';

function errorsOf(text: string): Array<[ParseErrorCode, string, number]> {
  return parse(text, { recover: true }).errors.map((e) => [e.code, e.message, e.line]);
}

describe('parser errors', () => {
  test.each<[string, string, Array<[ParseErrorCode, string, number]>]>([
    ['empty file', '', [['E_NO_INSTRUCTIONS', 'file with no instructions', 1]]],
    ['only comments', '# a\n# b\n', [['E_NO_INSTRUCTIONS', 'file with no instructions', 2]]],
    ['unknown instruction', 'FROM a\nCOPYY a b\n', [['E_UNKNOWN_INSTRUCTION', 'unknown instruction: COPYY (did you mean COPY?)', 2]]],
    ['unknown instruction, lower case suggestion', 'FROM a\ncopyy a b\n', [['E_UNKNOWN_INSTRUCTION', 'unknown instruction: copyy (did you mean copy?)', 2]]],
    ['unknown flag with suggestion', 'FROM a\nCOPY --frm=x a b\n', [['E_FLAG', 'unknown flag: --frm (did you mean from?)', 2]]],
    ['flag names are case-sensitive', 'FROM a\nCOPY --FROM=x a b\n', [['E_FLAG', 'unknown flag: --FROM', 2]]],
    ['duplicate flag', 'FROM a\nCOPY --from=x --from=y a b\n', [['E_FLAG', 'duplicate flag specified: --from', 2]]],
    ['missing flag value', 'FROM a\nCOPY --chown a b\n', [['E_FLAG', 'missing a value on flag: --chown', 2]]],
    ['bad boolean', 'FROM a\nCOPY --link=maybe a b\n', [['E_FLAG', 'expecting boolean value for flag --link, not: maybe', 2]]],
    ['empty boolean', 'FROM a\nCOPY --link= a b\n', [['E_FLAG', 'missing a value on flag: --link', 2]]],
    ['flag on an instruction with none', 'FROM a\nMAINTAINER --boo x\n', [['E_FLAG', 'unknown flag: --boo', 2]]],
    ['COPY without destination', 'FROM a\nCOPY x\n', [['E_ARGUMENTS', 'COPY requires at least two arguments, but only one was provided. Destination could not be determined', 2]]],
    ['WORKDIR without argument', 'FROM a\nWORKDIR\n', [['E_ARGUMENTS', 'WORKDIR requires exactly one argument', 2]]],
    ['EXPOSE without argument', 'FROM a\nEXPOSE\n', [['E_ARGUMENTS', 'EXPOSE requires at least one argument', 2]]],
    ['FROM arity', 'FROM a b\n', [['E_ARGUMENTS', 'FROM requires either one or three arguments', 1]]],
    ['bad stage name', 'FROM a AS 1bad\n', [['E_VALUE', 'invalid name for build stage: "1bad", name can\'t start with a number or contain symbols', 1]]],
    ['SHELL not JSON', 'FROM a\nSHELL sh -c\n', [['E_VALUE', 'SHELL requires the arguments to be in JSON form', 2]]],
    ['SHELL empty', 'FROM a\nSHELL []\n', [['E_ARGUMENTS', 'SHELL requires at least one argument', 2]]],
    ['empty VOLUME', 'FROM a\nVOLUME [""]\n', [['E_VALUE', 'VOLUME specified can not be an empty string', 2]]],
    ['blank LABEL name', 'FROM a\nLABEL =x\n', [['E_VALUE', 'LABEL names can not be blank', 2]]],
    ['blank ARG name', 'ARG =x\nFROM a\n', [['E_VALUE', 'ARG names can not be blank', 1]]],
    ['ENV without value', 'FROM a\nENV x\n', [['E_KEY_VALUE', 'ENV must have two arguments', 2]]],
    ['ENV missing =', 'FROM a\nENV a=1 b\n', [['E_KEY_VALUE', 'Syntax error - can\'t find = in "b". Must be of the form: name=value', 2]]],
    ['JSON with a number', 'FROM a\nRUN ["echo", 1]\n', [['E_JSON_ARGS', 'when using JSON array syntax, arrays must be comprised of strings only', 2]]],
    ['unterminated heredoc', 'FROM a\nRUN <<EOF\necho\n', [['E_HEREDOC', 'unterminated heredoc', 2]]],
    ['heredoc as COPY destination', 'FROM a\nCOPY a <<EOF\nx\nEOF\n', [['E_VALUE', 'COPY cannot accept a heredoc as a destination', 2]]],
    ['duplicate directive', '# escape=`\n# escape=`\nFROM a\n', [['E_DIRECTIVE', 'only one escape parser directive can be used', 2]]],
    ['bad escape directive', '# escape=x\nFROM a\n', [['E_DIRECTIVE', "invalid escape token 'x' does not match ` or \\", 1]]],
    ['instruction before FROM', 'RUN x\nFROM a\n', [['E_NO_STAGE', 'no build stage in current context', 1]]],
    ['bad network', 'FROM a\nRUN --network=bogus x\n', [['E_VALUE', 'invalid network mode "bogus"', 2]]],
    ['bad security', 'FROM a\nRUN --security=bogus x\n', [['E_VALUE', 'security "bogus" is not valid', 2]]],
    ['mount from with a variable', 'FROM a\nRUN --mount=from=$X x\n', [['E_VALUE', "'from' doesn't support variable expansion, define alias stage instead", 2]]],
    ['bad mount CSV', 'FROM a\nRUN --mount=type=a\\"b x\n', [['E_VALUE', 'failed to parse csv mounts: parse error on line 1, column 7: bare " in non-quoted-field', 2]]],
    ['HEALTHCHECK NONE with args', 'FROM a\nHEALTHCHECK NONE x\n', [['E_ARGUMENTS', 'HEALTHCHECK NONE takes no arguments', 2]]],
    ['HEALTHCHECK unknown type', 'FROM a\nHEALTHCHECK CONNECT x\n', [['E_VALUE', 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)', 2]]],
    ['HEALTHCHECK missing command', 'FROM a\nHEALTHCHECK CMD\n', [['E_ARGUMENTS', 'Missing command after HEALTHCHECK CMD', 2]]],
    ['HEALTHCHECK short interval', 'FROM a\nHEALTHCHECK --interval=1us CMD x\n', [['E_VALUE', 'Interval "interval" cannot be less than 1ms', 2]]],
    ['HEALTHCHECK bad duration', 'FROM a\nHEALTHCHECK --timeout=5 CMD x\n', [['E_VALUE', 'time: missing unit in duration "5"', 2]]],
    ['HEALTHCHECK negative retries', 'FROM a\nHEALTHCHECK --retries=-1 CMD x\n', [['E_VALUE', '--retries cannot be negative (-1)', 2]]],
    ['ONBUILD ONBUILD', 'FROM a\nONBUILD ONBUILD RUN x\n', [['E_VALUE', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', 2]]],
    ['ONBUILD FROM', 'FROM a\nONBUILD FROM b\n', [['E_VALUE', "FROM isn't allowed as an ONBUILD trigger", 2]]],
    ['ONBUILD empty', 'FROM a\nONBUILD\n', [['E_ARGUMENTS', 'ONBUILD requires at least one argument', 2]]],
  ])('%s', (_name, text, expected) => {
    expect(errorsOf(text)).toEqual(expected);
  });

  test('the line too long for BuildKit is an error', () => {
    const text = `FROM a\nRUN ${'x'.repeat(65532)}\n`;
    expect(errorsOf(text)).toEqual([['E_LINE_TOO_LONG', 'dockerfile line greater than max allowed size of 65535', 2]]);
    expect(errorsOf(`FROM a\nRUN ${'x'.repeat(65531)}\n`)).toEqual([]);
  });

  test('parse() without recover throws one ParseError listing every problem', () => {
    let thrown: unknown;
    try {
      parse('FROM a\nCOPYY x y\nCOPY --frm=1 a b\nENV x\n', { filename: 'app.Dockerfile' });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ParseError);
    const err = thrown as ParseError;
    expect(err.code).toBe('E_UNKNOWN_INSTRUCTION');
    expect(err.format()).toBe('app.Dockerfile:2: unknown instruction: COPYY (did you mean COPY?)');
    expect(err.errors.map((e) => e.line)).toEqual([2, 3, 4]);
  });

  test('errors point at the column of the token at fault', () => {
    const [err] = parse('FROM a\nCOPY --link --frm=1 a b\n', { recover: true }).errors;
    expect(err?.range).toEqual({ start: { line: 2, col: 13 }, end: { line: 2, col: 20 } });
  });

  test('recover keeps instruction-level failures as nodes and drops nothing readable', () => {
    const ast = parse('FROM a\nRUN ["x", 1]\nCOPY --bad a b\nUSER me\n', { recover: true });
    expect(ast.instructions.map((i) => [i.kind, i.kind === 'INVALID' ? i.level : '-'])).toEqual([
      ['FROM', '-'], ['INVALID', 'line'], ['INVALID', 'instruction'], ['USER', '-'],
    ]);
  });

  test('comments inside a continuation do not end it; empty lines warn', () => {
    const ast = parse('FROM a\nRUN echo a \\\n# note\n\n  b\n');
    expect(ast.instructions[1]).toMatchObject({ kind: 'RUN', command: { form: 'shell', script: 'echo a   b' } });
    expect(ast.warnings.map((w) => [w.message, w.range.start.line])).toEqual([['Empty continuation line found in: RUN echo a   b', 5]]);
    expect(ast.comments.map((c) => [c.text, c.range.start.line])).toEqual([['note', 3]]);
  });
});

test('keywords fold case as Go does: `ſ` and `ı` are not s and i', () => {
  expect(parse('FROM a\nſTOPSIGNAL 9\nMAıNTAINER x\n', { recover: true }).errors.map((e) => e.code)).toEqual([
    'E_UNKNOWN_INSTRUCTION', 'E_UNKNOWN_INSTRUCTION',
  ]);
  expect(parse('FROM a\nrun x\nRuN y\n').instructions.map((i) => i.kind)).toEqual(['FROM', 'RUN', 'RUN']);
});
