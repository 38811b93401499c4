/**
 * Rendering of the targets list: plain DOM from rows, so it can be tested in
 * jsdom without JupyterLab. Stable hooks for UI tests:
 * `data-amldebug-target=<id>`, `data-amldebug-state=<state>`,
 * `data-amldebug-detail=<detail>`, buttons with the text "Attach" / "Detach"
 * and `data-amldebug-action`.
 *
 * A row: the label and the state's badge, the kernel's detail under them,
 * the address and the countdown, the buttons. Label and detail keep to one
 * line each in a narrow sidebar (style/index.css cuts them with an ellipsis),
 * so their full text is also their tooltip.
 */
import { formatCountdown } from './targets';
import type { ITargetRow } from './targets';

export interface IRowActions {
  attach(id: string): void;
  detach(id: string): void;
}

export const CSS = {
  list: 'jp-amldebug-targets',
  row: 'jp-amldebug-target',
  label: 'jp-amldebug-target-label',
  state: 'jp-amldebug-target-state',
  detail: 'jp-amldebug-target-detail',
  address: 'jp-amldebug-target-address',
  countdown: 'jp-amldebug-target-countdown',
  button: 'jp-amldebug-target-button',
  empty: 'jp-amldebug-empty'
} as const;

function span(className: string, text: string): HTMLSpanElement {
  const el = document.createElement('span');
  el.className = className;
  el.textContent = text;
  return el;
}

/** A span that may be cut to one line: the tooltip shows all of it. */
function line(className: string, text: string): HTMLSpanElement {
  const el = span(className, text);
  el.title = text;
  return el;
}

function button(
  action: 'attach' | 'detach',
  enabled: boolean,
  onClick: () => void
): HTMLButtonElement {
  const el = document.createElement('button');
  el.type = 'button';
  el.className = `jp-Button jp-mod-styled ${CSS.button}`;
  el.textContent = action === 'attach' ? 'Attach' : 'Detach';
  el.dataset.amldebugAction = action;
  el.disabled = !enabled;
  el.addEventListener('click', onClick);
  return el;
}

/** Everything a row shows except the countdown. */
function structure(rows: ReadonlyArray<ITargetRow>, emptyText: string): string {
  return JSON.stringify([
    emptyText,
    rows.map(r => [
      r.id,
      r.label,
      r.state,
      r.detail,
      r.address,
      r.canAttach,
      r.canDetach
    ])
  ]);
}

/**
 * Show one row per target (or the empty message) in `host`. When only the
 * countdowns changed, just their text is updated, so the once-a-second tick
 * never replaces a button under the user's pointer.
 */
export function renderTargets(
  host: HTMLElement,
  rows: ReadonlyArray<ITargetRow>,
  actions: IRowActions,
  emptyText: string
): void {
  const signature = structure(rows, emptyText);
  if (host.dataset.amldebugRendered === signature) {
    const items = host.querySelectorAll<HTMLElement>(`.${CSS.row}`);
    items.forEach((item, i) => {
      const countdown = item.querySelector(`.${CSS.countdown}`);
      if (countdown && rows[i]) {
        countdown.textContent = formatCountdown(rows[i].secondsLeft);
      }
    });
    return;
  }
  host.dataset.amldebugRendered = signature;
  host.textContent = '';
  if (rows.length === 0) {
    host.appendChild(span(CSS.empty, emptyText));
    return;
  }
  const list = document.createElement('ul');
  list.className = CSS.list;
  for (const row of rows) {
    const item = document.createElement('li');
    item.className = CSS.row;
    item.dataset.amldebugTarget = row.id;
    item.dataset.amldebugState = row.state;
    item.appendChild(line(CSS.label, row.label));
    item.appendChild(span(CSS.state, row.state));
    if (row.detail !== null) {
      const detail = line(CSS.detail, row.detail);
      detail.dataset.amldebugDetail = row.detail;
      item.appendChild(detail);
    }
    item.appendChild(span(CSS.address, row.address ?? ''));
    item.appendChild(span(CSS.countdown, formatCountdown(row.secondsLeft)));
    item.appendChild(
      button('attach', row.canAttach, () => actions.attach(row.id))
    );
    item.appendChild(
      button('detach', row.canDetach, () => actions.detach(row.id))
    );
    list.appendChild(item);
  }
  host.appendChild(list);
}
