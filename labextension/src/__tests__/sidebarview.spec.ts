import { renderTargets } from '../sidebarview';
import type { ITargetRow } from '../targets';

function row(overrides: Partial<ITargetRow> = {}): ITargetRow {
  return {
    id: 't1',
    label: 'train',
    address: '10.0.0.4:5678',
    state: 'waiting',
    secondsLeft: 90,
    canAttach: true,
    canDetach: false,
    ...overrides
  };
}

describe('renderTargets', () => {
  let host: HTMLElement;
  const calls: string[] = [];
  const actions = {
    attach: (id: string) => calls.push(`attach ${id}`),
    detach: (id: string) => calls.push(`detach ${id}`)
  };

  beforeEach(() => {
    host = document.createElement('div');
    calls.length = 0;
  });

  it('shows the empty text without targets', () => {
    renderTargets(host, [], actions, 'Nothing here');
    expect(host.textContent).toBe('Nothing here');
  });

  it('renders one row per target with stable hooks', () => {
    renderTargets(
      host,
      [
        row(),
        row({
          id: 't2',
          label: 'score',
          state: 'attached',
          canAttach: false,
          canDetach: true,
          secondsLeft: null
        })
      ],
      actions,
      ''
    );
    const items = host.querySelectorAll<HTMLElement>('[data-amldebug-target]');
    expect(Array.from(items, i => i.dataset.amldebugTarget)).toEqual([
      't1',
      't2'
    ]);
    expect(items[0].dataset.amldebugState).toBe('waiting');
    expect(items[0].textContent).toContain('1:30');
    expect(items[0].textContent).toContain('10.0.0.4:5678');
    const [attach1, detach1] = Array.from(items[0].querySelectorAll('button'));
    expect(attach1.textContent).toBe('Attach');
    expect(attach1.disabled).toBe(false);
    expect(detach1.textContent).toBe('Detach');
    expect(detach1.disabled).toBe(true);
    const detach2 = items[1].querySelector<HTMLButtonElement>(
      '[data-amldebug-action="detach"]'
    );
    expect(detach2?.disabled).toBe(false);
  });

  it('routes button clicks to the actions with the target id', () => {
    renderTargets(host, [row()], actions, '');
    host
      .querySelector<HTMLButtonElement>('[data-amldebug-action="attach"]')
      ?.click();
    expect(calls).toEqual(['attach t1']);
  });

  it('only updates countdown text when nothing else changed', () => {
    renderTargets(host, [row()], actions, '');
    const button = host.querySelector('button');
    renderTargets(host, [row({ secondsLeft: 89 })], actions, '');
    expect(host.querySelector('button')).toBe(button);
    expect(host.textContent).toContain('1:29');
    renderTargets(
      host,
      [row({ state: 'expired', canAttach: false, secondsLeft: 0 })],
      actions,
      ''
    );
    expect(host.querySelector('button')).not.toBe(button);
    expect(
      host.querySelector<HTMLElement>('[data-amldebug-target]')?.dataset
        .amldebugState
    ).toBe('expired');
  });
});
