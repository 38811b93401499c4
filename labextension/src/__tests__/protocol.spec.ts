import {
  COMM_SCHEMA,
  COMM_TARGET,
  DEBUG_COMMANDS,
  FRONTEND_MESSAGE_TYPES,
  KERNEL_MESSAGE_TYPES,
  PROTOCOL_VERSION,
  checkFrontendMessage,
  foreignSnapshot,
  parseKernelMessage,
  protocolMismatchText,
  TARGET_STATES
} from '../protocol';
import { target } from './fixtures';

/** `target()` without some of its fields (as an older kernel sends it). */
function targetWithout(...keys: string[]): Record<string, unknown> {
  const t: Record<string, unknown> = { ...target() };
  keys.forEach(key => delete t[key]);
  return t;
}

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

  it('lists the same target states', () => {
    const defs = COMM_SCHEMA.$defs as Record<string, Record<string, unknown>>;
    const props = defs.target.properties as Record<string, { enum?: string[] }>;
    expect(props.state.enum).toEqual([...TARGET_STATES]);
  });

  it('names the same custom debug requests', () => {
    const requests = COMM_SCHEMA['x-debug-requests'] as Record<string, unknown>;
    expect(Object.keys(requests).filter(k => k !== 'description')).toEqual([
      ...DEBUG_COMMANDS
    ]);
  });
});

describe('the schema annotations', () => {
  it('name the comm target and the protocol version', () => {
    expect(COMM_TARGET).toBe(COMM_SCHEMA['x-comm-target']);
    expect(COMM_TARGET).toBe('amldebug');
    expect(PROTOCOL_VERSION).toBe(COMM_SCHEMA['x-protocol-version']);
    expect(Number.isInteger(PROTOCOL_VERSION)).toBe(true);
  });

  it('word a mismatch for the user', () => {
    expect(protocolMismatchText(7)).toBe(
      `The kernel's amldebug_jupyter speaks comm protocol 7, this JupyterLab ` +
        `extension speaks ${PROTOCOL_VERSION}: install the same ` +
        "amldebug-jupyter version in the kernel's environment and in " +
        "JupyterLab's."
    );
  });
});

describe('foreignSnapshot', () => {
  const other = PROTOCOL_VERSION + 1;
  it('keeps the protocol of a targets message of another shape', () => {
    const data = { type: 'targets', targets: 'a new shape', protocol: other };
    expect(parseKernelMessage(data).ok).toBe(false);
    expect(foreignSnapshot(data)).toEqual({
      type: 'targets',
      targets: [],
      protocol: other
    });
  });

  it('takes a snapshot naming no protocol for protocol 1', () => {
    // A protocol-1 kernel: state "done", no detail / can_attach / can_detach.
    const old = targetWithout('detail', 'can_attach', 'can_detach');
    const data = { type: 'targets', targets: [{ ...old, state: 'done' }] };
    expect(parseKernelMessage(data).ok).toBe(false);
    expect(foreignSnapshot(data)).toEqual({
      type: 'targets',
      targets: [],
      protocol: 1
    });
  });

  it('is null for anything else', () => {
    expect(foreignSnapshot({ type: 'targets', targets: 'x' })).toBeNull();
    expect(
      foreignSnapshot({ type: 'targets', protocol: PROTOCOL_VERSION })
    ).toBeNull();
    expect(foreignSnapshot({ type: 'problem', protocol: other })).toBeNull();
    expect(foreignSnapshot({ type: 'targets', protocol: '2' })).toBeNull();
    expect(foreignSnapshot(null)).toBeNull();
  });
});

describe('parseKernelMessage', () => {
  const valid: Array<[string, unknown]> = [
    ['targets snapshot', { type: 'targets', targets: [target()] }],
    [
      'empty snapshot with clock, home and cwd',
      { type: 'targets', targets: [], now: 5, home: '/root', cwd: '/root/x' }
    ],
    [
      'snapshot of every state',
      {
        type: 'targets',
        targets: TARGET_STATES.map(state => target({ id: state, state })),
        protocol: 2
      }
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
            script: null,
            detail: null
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
    ...(['user', 'ended', 'lost'] as const).map(
      reason =>
        [
          `detached for reason ${reason}`,
          { type: 'detached', target: 't', reason }
        ] as [string, unknown]
    ),
    [
      'problem of an ended step',
      {
        type: 'problem',
        kind: 'ended',
        target: 't',
        message: 'train failed under the debugger',
        details: null
      }
    ],
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
    ['snapshot with a protocol', { type: 'targets', targets: [], protocol: 2 }],
    [
      'protocol mismatch problem',
      {
        type: 'problem',
        kind: 'protocol_mismatch',
        target: null,
        message: 'm',
        details: null
      }
    ],
    [
      'unknown extra field (newer kernel)',
      { type: 'detached', target: 't', since: 5 }
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
      "protocol 1's done state",
      { type: 'targets', targets: [target({ state: 'done' as never })] }
    ],
    [
      'target without can_attach',
      { type: 'targets', targets: [targetWithout('can_attach')] }
    ],
    [
      'detail as a number',
      { type: 'targets', targets: [target({ detail: 3 as never })] }
    ],
    ['unknown detach reason', { type: 'detached', target: 't', reason: 'x' }],
    [
      'missing target field',
      { type: 'targets', targets: [{ id: 'x', label: 'x', state: 'waiting' }] }
    ],
    [
      'deadline as string',
      { type: 'targets', targets: [target({ deadline: '12' as never })] }
    ],
    ['empty target id', { type: 'detached', target: '' }],
    [
      'protocol not an integer',
      { type: 'targets', targets: [], protocol: 1.5 }
    ],
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
    expect(checkFrontendMessage({ type: 'hello', protocol: 1 }).ok).toBe(true);
    expect(checkFrontendMessage({ type: 'attach', target: 'a' }).ok).toBe(true);
    expect(checkFrontendMessage({ type: 'detach' }).ok).toBe(true);
  });

  it('rejects attach without target and kernel messages', () => {
    expect(checkFrontendMessage({ type: 'attach' }).ok).toBe(false);
    expect(checkFrontendMessage({ type: 'hello', protocol: '1' }).ok).toBe(
      false
    );
    expect(checkFrontendMessage({ type: 'detached', target: 'a' }).ok).toBe(
      false
    );
  });
});
