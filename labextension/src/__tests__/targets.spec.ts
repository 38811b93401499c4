import { PROTOCOL_VERSION } from '../protocol';
import { TargetListModel, formatCountdown } from '../targets';
import { target } from './fixtures';

describe('TargetListModel', () => {
  it('takes a snapshot and counts down to the deadline', () => {
    const model = new TargetListModel();
    expect(
      model.apply(
        { type: 'targets', targets: [target({ deadline: 1100 })] },
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
      { type: 'targets', targets: [target({ deadline: 1100 })] },
      1000
    );
    const row = model.rows(1100.5)[0];
    expect(row.state).toBe('expired');
    expect(row.secondsLeft).toBe(0);
    expect(row.canAttach).toBe(false);
    expect(model.rows(1100)[0].state).toBe('expired');
    expect(model.rows(1099.5)[0].state).toBe('waiting');
    expect(model.rows(1099.5)[0].secondsLeft).toBe(1);
  });

  it('corrects deadlines for the kernel clock when the kernel sends now', () => {
    const model = new TargetListModel();
    // Kernel clock is 50 s ahead of the browser.
    model.apply(
      { type: 'targets', targets: [target({ deadline: 1100 })], now: 1050 },
      1000
    );
    expect(model.clockOffset).toBe(50);
    expect(model.rows(1000)[0].secondsLeft).toBe(50);
  });

  it('moves through attached and detached', () => {
    const model = new TargetListModel();
    model.apply(
      {
        type: 'targets',
        targets: [target({ id: 'a' }), target({ id: 'b', state: 'attached' })]
      },
      0
    );
    expect(model.rows(0).map(r => r.canAttach)).toEqual([false, false]);
    expect(
      model.apply(
        { type: 'attached', target: 'a', script: null, line: null },
        0
      )
    ).toBe(true);
    expect(model.targets.map(t => t.state)).toEqual(['attached', 'waiting']);
    const rows = model.rows(0);
    expect(rows[0].canDetach).toBe(true);
    expect(rows[0].secondsLeft).toBeNull();
    expect(rows[1].canDetach).toBe(false);
    expect(model.apply({ type: 'detached', target: 'a' }, 0)).toBe(true);
    expect(model.targets.map(t => t.state)).toEqual(['waiting', 'waiting']);
    expect(model.apply({ type: 'detached', target: 'zzz' }, 0)).toBe(false);
  });

  it('does not offer attach for done targets or targets without an address', () => {
    const model = new TargetListModel();
    model.apply(
      {
        type: 'targets',
        targets: [
          target({ id: 'done', state: 'done' }),
          target({ id: 'noaddr', address: null }),
          target({ id: 'lost', state: 'lost' })
        ]
      },
      0
    );
    expect(model.rows(0).map(r => [r.id, r.canAttach])).toEqual([
      ['done', false],
      ['noaddr', false],
      ['lost', true]
    ]);
  });

  it('keeps home from the kernel and forgets everything on clear', () => {
    const model = new TargetListModel();
    model.apply(
      { type: 'targets', targets: [target()], home: '/home/u', now: 10 },
      0
    );
    expect(model.home).toBe('/home/u');
    model.apply({ type: 'targets', targets: [] }, 0);
    expect(model.home).toBe('/home/u');
    model.clear();
    expect(model.targets).toEqual([]);
    expect(model.home).toBeNull();
    expect(model.clockOffset).toBe(0);
  });

  it("knows the kernel's protocol from its snapshots (none named: 1)", () => {
    const model = new TargetListModel();
    expect(model.kernelProtocol).toBeNull();
    expect(model.mismatch).toBeNull();
    model.apply({ type: 'targets', targets: [target()] }, 0);
    expect(model.kernelProtocol).toBe(1);
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
          target({ id: 'b', state: 'attached' })
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

  it('picks the first waiting target to attach to, else a lost one', () => {
    const model = new TargetListModel();
    const targets = [
      target({ id: 'done', state: 'done', deadline: null }),
      target({ id: 'lost', state: 'lost', deadline: null }),
      target({ id: 'nowhere', address: null, deadline: null }),
      target({ id: 'w1', deadline: null }),
      target({ id: 'w2', deadline: null })
    ];
    model.apply({ type: 'targets', targets }, 0);
    expect(model.firstAttachable(0)?.id).toBe('w1');
    model.apply({ type: 'targets', targets: targets.slice(0, 3) }, 0);
    expect(model.firstAttachable(0)?.id).toBe('lost');
    model.apply({ type: 'targets', targets: targets.slice(0, 1) }, 0);
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
