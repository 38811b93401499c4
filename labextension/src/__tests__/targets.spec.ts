import { PROTOCOL_VERSION } from '../protocol';
import { TargetListModel, formatCountdown } from '../targets';
import { target } from './fixtures';

describe('TargetListModel', () => {
  it('takes a snapshot and counts down to the deadline', () => {
    const model = new TargetListModel();
    expect(
      model.apply(
        {
          type: 'targets',
          protocol: PROTOCOL_VERSION,
          targets: [target({ deadline: 1100 })]
        },
        1000
      )
    ).toBe(true);
    expect(model.rows(1000)[0].secondsLeft).toBe(100);
    expect(model.rows(1030.2)[0].secondsLeft).toBe(70);
    expect(model.rows(1000)[0].state).toBe('waiting');
    expect(model.rows(1000)[0].canAttach).toBe(true);
  });

  it('shows expired once a waiting target passes its deadline', () => {
    const model = new TargetListModel();
    model.apply(
      {
        type: 'targets',
        protocol: PROTOCOL_VERSION,
        targets: [target({ deadline: 1100 })]
      },
      1000
    );
    const row = model.rows(1100.5)[0];
    expect(row.state).toBe('expired');
    expect(row.secondsLeft).toBe(0);
    // Only shown: whether Attach applies is still the kernel's call.
    expect(row.canAttach).toBe(true);
    expect(model.rows(1100)[0].state).toBe('expired');
    expect(model.rows(1099.5)[0].state).toBe('waiting');
    expect(model.rows(1099.5)[0].secondsLeft).toBe(1);
  });

  it('corrects deadlines for the kernel clock when the kernel sends now', () => {
    const model = new TargetListModel();
    // Kernel clock is 50 s ahead of the browser.
    model.apply(
      {
        type: 'targets',
        protocol: PROTOCOL_VERSION,
        targets: [target({ deadline: 1100 })],
        now: 1050
      },
      1000
    );
    expect(model.clockOffset).toBe(50);
    expect(model.rows(1000)[0].secondsLeft).toBe(50);
  });

  it('counts down only while the remote waits for a debugger', () => {
    const model = new TargetListModel();
    model.apply(
      {
        type: 'targets',
        protocol: PROTOCOL_VERSION,
        targets: [
          target({ id: 'w', deadline: 100 }),
          target({ id: 'pm', state: 'post-mortem', deadline: 100 }),
          target({
            id: 'pm-held',
            state: 'post-mortem',
            deadline: 100,
            can_attach: false,
            can_detach: true
          }),
          target({ id: 'paused', state: 'paused', deadline: 100 }),
          target({ id: 'timed', state: 'timed out', deadline: 100 })
        ]
      },
      0
    );
    expect(model.rows(10).map(r => [r.id, r.secondsLeft])).toEqual([
      ['w', 90],
      ['pm', 90],
      ['pm-held', null],
      ['paused', null],
      ['timed', null]
    ]);
    expect(model.rows(200).map(r => r.state)).toEqual([
      'expired',
      'post-mortem',
      'post-mortem',
      'paused',
      'timed out'
    ]);
  });

  it("shows the kernel's state, detail and buttons as they are", () => {
    const model = new TargetListModel();
    model.apply(
      {
        type: 'targets',
        targets: [
          target({
            id: 'p',
            state: 'paused',
            detail: 'stopped at train.py:12',
            can_attach: false,
            can_detach: true
          }),
          target({ id: 'f', state: 'failed', detail: null, can_attach: false }),
          target({ id: 't', state: 'timed out', address: null })
        ],
        protocol: PROTOCOL_VERSION
      },
      0
    );
    expect(
      model
        .rows(0)
        .map(r => [r.id, r.state, r.detail, r.canAttach, r.canDetach])
    ).toEqual([
      ['p', 'paused', 'stopped at train.py:12', false, true],
      ['f', 'failed', null, false, false],
      ['t', 'timed out', 'waits for a debugger until 14:32:10', true, false]
    ]);
  });

  it('moves through attached and detached until the next snapshot', () => {
    const model = new TargetListModel();
    const held = { can_attach: false, can_detach: true } as const;
    model.apply(
      {
        type: 'targets',
        protocol: PROTOCOL_VERSION,
        targets: [
          target({ id: 'a' }),
          target({ id: 'b', state: 'paused', ...held }),
          target({ id: 'c', state: 'completed', can_attach: false })
        ]
      },
      0
    );
    expect(
      model.apply(
        { type: 'attached', target: 'a', script: null, line: null },
        0
      )
    ).toBe(true);
    // The kernel debugs one remote at a time: b was let go.
    expect(
      model.targets.map(t => [t.state, t.can_attach, t.can_detach, t.detail])
    ).toEqual([
      ['attached', false, true, null],
      ['detached', true, false, null],
      ['completed', false, false, 'waits for a debugger until 14:32:10']
    ]);
    const rows = model.rows(0);
    expect(rows[0].canDetach).toBe(true);
    expect(rows[0].secondsLeft).toBeNull();
    expect(
      model.apply(
        { type: 'attached', target: 'a', script: null, line: null },
        0
      )
    ).toBe(false);
    expect(
      model.apply({ type: 'detached', target: 'a', reason: 'user' }, 0)
    ).toBe(true);
    expect(model.targets[0]).toMatchObject({
      state: 'detached',
      can_attach: true,
      can_detach: false
    });
    expect(model.apply({ type: 'detached', target: 'zzz' }, 0)).toBe(false);
  });

  it('offers nothing for a target that ended under the debugger', () => {
    const model = new TargetListModel();
    model.apply(
      {
        type: 'targets',
        protocol: PROTOCOL_VERSION,
        targets: [
          target({
            state: 'paused',
            detail: 'stopped at train.py:3',
            can_attach: false,
            can_detach: true
          })
        ]
      },
      0
    );
    model.apply({ type: 'detached', target: 'run1/train', reason: 'ended' }, 0);
    expect(model.targets[0]).toMatchObject({
      state: 'paused', // until the snapshot says how it ended
      detail: 'stopped at train.py:3',
      can_attach: false,
      can_detach: false
    });
  });

  it('keeps home and cwd from the kernel and forgets everything on clear', () => {
    const model = new TargetListModel();
    model.apply(
      {
        type: 'targets',
        protocol: PROTOCOL_VERSION,
        targets: [target()],
        home: '/home/u',
        cwd: '/home/u/work/sub',
        now: 10
      },
      0
    );
    expect(model.home).toBe('/home/u');
    expect(model.cwd).toBe('/home/u/work/sub');
    model.apply(
      { type: 'targets', protocol: PROTOCOL_VERSION, targets: [] },
      0
    );
    expect(model.home).toBe('/home/u');
    expect(model.cwd).toBe('/home/u/work/sub');
    model.clear();
    expect(model.targets).toEqual([]);
    expect(model.home).toBeNull();
    expect(model.cwd).toBeNull();
    expect(model.clockOffset).toBe(0);
  });

  it("knows the kernel's protocol from its snapshots (none named: 1)", () => {
    const model = new TargetListModel();
    expect(model.kernelProtocol).toBeNull();
    expect(model.mismatch).toBeNull();
    model.apply({ type: 'targets', targets: [target()] }, 0);
    expect(model.kernelProtocol).toBe(1);
    expect(model.mismatch).toContain('speaks comm protocol 1,');
    expect(model.rows(0)[0].canAttach).toBe(false);
    model.apply(
      { type: 'targets', targets: [target()], protocol: PROTOCOL_VERSION },
      0
    );
    expect(model.mismatch).toBeNull();
    model.clear();
    expect(model.kernelProtocol).toBeNull();
  });

  it('offers nothing from a kernel of another protocol', () => {
    const model = new TargetListModel();
    model.apply(
      {
        type: 'targets',
        targets: [
          target({ deadline: null }),
          target({ id: 'b', state: 'attached', can_detach: true })
        ],
        protocol: PROTOCOL_VERSION + 1
      },
      0
    );
    expect(model.mismatch).toContain(
      `speaks comm protocol ${PROTOCOL_VERSION + 1}`
    );
    expect(model.rows(0).some(r => r.canAttach || r.canDetach)).toBe(false);
    expect(model.firstAttachable(0)).toBeNull();
  });

  it('picks the first waiting target to attach to, else the first attachable', () => {
    const model = new TargetListModel();
    const targets = [
      target({ id: 'done', state: 'completed', can_attach: false }),
      target({ id: 'lost', state: 'lost', deadline: null }),
      target({ id: 'held', state: 'waiting', can_attach: false }),
      target({ id: 'pm', state: 'post-mortem', deadline: null }),
      target({ id: 'w1', deadline: null }),
      target({ id: 'w2', deadline: null })
    ];
    model.apply({ type: 'targets', protocol: PROTOCOL_VERSION, targets }, 0);
    expect(model.firstAttachable(0)?.id).toBe('pm');
    model.apply(
      {
        type: 'targets',
        protocol: PROTOCOL_VERSION,
        targets: targets.slice(0, 3)
      },
      0
    );
    expect(model.firstAttachable(0)?.id).toBe('lost');
    model.apply(
      {
        type: 'targets',
        protocol: PROTOCOL_VERSION,
        targets: targets.slice(0, 1)
      },
      0
    );
    expect(model.firstAttachable(0)).toBeNull();
  });

  it('ignores problem messages', () => {
    const model = new TargetListModel();
    expect(
      model.apply(
        {
          type: 'problem',
          kind: 'unreachable',
          target: null,
          message: 'x',
          details: null
        },
        0
      )
    ).toBe(false);
  });
});

describe('formatCountdown', () => {
  it.each([
    [null, ''],
    [0, '0:00'],
    [9, '0:09'],
    [90, '1:30'],
    [3700, '1:01:40'],
    [-5, '0:00']
  ])('%s -> %s', (seconds, text) => {
    expect(formatCountdown(seconds)).toBe(text);
  });
});
