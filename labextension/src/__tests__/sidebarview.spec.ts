import { CSS, renderTargets } from '../sidebarview';
import type { ITargetRow } from '../targets';

function row(overrides: Partial<ITargetRow> = {}): ITargetRow {
  return {
    id: 't1',
    label: 'train',
    address: '10.0.0.4:5678',
    state: 'waiting',
    detail: 'waits for a debugger until 14:32:10',
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

  it('shows the detail on a line of its own, full texts in tooltips', () => {
    const label = 'pipeline-2024-06-01 / a step with a very long name';
    renderTargets(
      host,
      [
        row({ label, detail: 'ZeroDivisionError: division by zero' }),
        row({ id: 't2', detail: null })
      ],
      actions,
      ''
    );
    const [first, second] = Array.from(
      host.querySelectorAll<HTMLElement>('[data-amldebug-target]')
    );
    const labelEl = first.querySelector<HTMLElement>(`.${CSS.label}`);
    expect(labelEl?.textContent).toBe(label);
    expect(labelEl?.title).toBe(label);
    const detail = first.querySelector<HTMLElement>('[data-amldebug-detail]');
    expect(detail?.className).toBe(CSS.detail);
    expect(detail?.textContent).toBe('ZeroDivisionError: division by zero');
    expect(detail?.title).toBe(detail?.textContent);
    expect(detail?.dataset.amldebugDetail).toBe(detail?.textContent);
    // Right under the label and its state badge.
    expect(detail?.previousElementSibling?.className).toBe(CSS.state);
    expect(second.querySelector(`.${CSS.detail}`)).toBeNull();
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

  it('renders again when the detail changes', () => {
    renderTargets(
      host,
      [row({ state: 'paused', secondsLeft: null })],
      actions,
      ''
    );
    const button = host.querySelector('button');
    renderTargets(
      host,
      [
        row({ state: 'paused', secondsLeft: null, detail: 'stopped at a.py:3' })
      ],
      actions,
      ''
    );
    expect(host.querySelector('button')).not.toBe(button);
    expect(host.textContent).toContain('stopped at a.py:3');
  });
});
