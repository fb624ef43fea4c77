/** RUN --mount values as BuildKit's commands_runmount.go reads them at build time. */
import { parseMount, MountError } from '../../src';

const expand = (w: string): string => w.replace('$DIR', '/cache');

describe('parseMount', () => {
  test.each([
    ['type=cache,target=$DIR', { type: 'cache', target: '/cache', readOnly: false, required: false }],
    ['target=/src', { type: 'bind', target: '/src', readOnly: true, required: false }],
    ['type=bind,source=a,target=/b,rw', { type: 'bind', source: 'a', target: '/b', readOnly: false, required: false }],
    ['type=tmpfs,target=/t,size=64m', { type: 'tmpfs', target: '/t', sizeLimit: 64 * 1024 * 1024, readOnly: false, required: false }],
    ['type=secret,id=tok,required,env=TOKEN', { type: 'secret', cacheId: 'tok', env: 'TOKEN', readOnly: true, required: true }],
    ['type=cache,target=/c,sharing=LOCKED,mode=0755,uid=1000', { type: 'cache', target: '/c', sharing: 'locked', mode: 0o755, uid: 1000, readOnly: false, required: false }],
    ['"type=cache","target=/a,b"', { type: 'cache', target: '/a,b', readOnly: false, required: false }],
  ])('%s', (value, expected) => {
    expect(parseMount(value, expand)).toEqual(expected);
  });

  test.each([
    ['type=cahce', 'unsupported mount type "cahce" (did you mean cache?)'],
    ['type=cache,sharing=none', 'unsupported sharing value "none"'],
    ['type=bind,size=1m', "unexpected key 'size' for mount type 'bind'"],
    ['target=/a,mode=0644', 'mode not allowed for "bind" type mounts'],
    ['type=cache,mode=9', 'invalid value 9 for mode'],
    ['type=secret', 'invalid secret mount. one of source, target required'],
    ['type=bind,targte=/a', "unexpected key 'targte' in 'targte=/a' (did you mean target?)"],
    ['readonly=maybe', 'invalid value for readonly: maybe'],
    ['type=bind,bogus', "invalid field 'bogus' must be a key=value pair"],
    ['', 'failed to parse csv mounts: EOF'],
  ])('%s is rejected', (value, message) => {
    expect(() => parseMount(value, expand)).toThrow(new MountError(message));
  });
});
