import {
  COMM_SCHEMA,
  FRONTEND_MESSAGE_TYPES,
  KERNEL_MESSAGE_TYPES,
  checkFrontendMessage,
  parseKernelMessage
} from '../protocol';
import { target } from './fixtures';

/** The `type` const of every message a `$defs/<name>` oneOf refers to. */
function messageTypes(name: string): string[] {
  const defs = COMM_SCHEMA.$defs as Record<string, Record<string, unknown>>;
  const refs = defs[name].oneOf as Array<{ $ref: string }>;
  return refs.map(ref => {
    const def = defs[ref.$ref.replace('#/$defs/', '')];
    const props = def.properties as Record<string, { const: string }>;
    return props.type.const;
  });
}

describe('comm schema and TypeScript agree', () => {
  it('lists the same kernel message types', () => {
    expect(messageTypes('kernel_message').sort()).toEqual(
      [...KERNEL_MESSAGE_TYPES].sort()
    );
  });

  it('lists the same frontend message types', () => {
    expect(messageTypes('frontend_message').sort()).toEqual(
      [...FRONTEND_MESSAGE_TYPES].sort()
    );
  });
});

describe('parseKernelMessage', () => {
  const valid: Array<[string, unknown]> = [
    ['targets snapshot', { type: 'targets', targets: [target()] }],
    [
      'empty snapshot with clock and home',
      { type: 'targets', targets: [], now: 5, home: '/root' }
    ],
    [
      'target with nulls',
      {
        type: 'targets',
        targets: [
          target({
            address: null,
            deadline: null,
            local_root: null,
            remote_root: null,
            script: null
          })
        ]
      }
    ],
    [
      'attached with script',
      { type: 'attached', target: 't', script: '/a/b.py', line: 3 }
    ],
    [
      'attached without script',
      { type: 'attached', target: 't', script: null, line: null }
    ],
    ['detached', { type: 'detached', target: 't' }],
    [
      'problem with details',
      {
        type: 'problem',
        kind: 'unreachable',
        target: 't',
        message: 'm',
        details: 'trace'
      }
    ],
    [
      'problem without target',
      {
        type: 'problem',
        kind: 'deadline_soon',
        target: null,
        message: 'm',
        details: null
      }
    ],
    [
      'unknown extra field (newer kernel)',
      { type: 'detached', target: 't', reason: 'user' }
    ]
  ];

  it.each(valid)('accepts %s', (_, data) => {
    const result = parseKernelMessage(data);
    expect(result.ok).toBe(true);
  });

  const invalid: Array<[string, unknown]> = [
    ['non-object', 'targets'],
    ['null', null],
    ['unknown type', { type: 'bogus' }],
    ['frontend message', { type: 'hello' }],
    ['targets not an array', { type: 'targets', targets: {} }],
    [
      'bad state',
      { type: 'targets', targets: [target({ state: 'running' as never })] }
    ],
    [
      'missing target field',
      { type: 'targets', targets: [{ id: 'x', label: 'x', state: 'waiting' }] }
    ],
    [
      'deadline as string',
      { type: 'targets', targets: [target({ deadline: '12' as never })] }
    ],
    ['empty target id', { type: 'detached', target: '' }],
    ['line zero', { type: 'attached', target: 't', script: null, line: 0 }],
    [
      'attached without line key',
      { type: 'attached', target: 't', script: null }
    ],
    [
      'unknown problem kind',
      {
        type: 'problem',
        kind: 'oops',
        target: null,
        message: 'm',
        details: null
      }
    ]
  ];

  it.each(invalid)('rejects %s with a reason', (_, data) => {
    const result = parseKernelMessage(data);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.length).toBeGreaterThan(0);
    }
  });
});

describe('checkFrontendMessage', () => {
  it('accepts hello, attach and detach', () => {
    expect(checkFrontendMessage({ type: 'hello' }).ok).toBe(true);
    expect(checkFrontendMessage({ type: 'attach', target: 'a' }).ok).toBe(true);
    expect(checkFrontendMessage({ type: 'detach' }).ok).toBe(true);
  });

  it('rejects attach without target and kernel messages', () => {
    expect(checkFrontendMessage({ type: 'attach' }).ok).toBe(false);
    expect(checkFrontendMessage({ type: 'detached', target: 'a' }).ok).toBe(
      false
    );
  });
});
