/**
 * The debug targets one kernel announced, as the sidebar shows them.
 *
 * Pure state: the kernel's `targets` snapshot is authoritative; `attached` /
 * `detached` update it at once so the buttons react before the next snapshot.
 * Time is passed in (epoch seconds, browser clock) so tests control it.
 * A kernel that speaks another comm protocol offers nothing to attach to.
 */
import { PROTOCOL_VERSION, protocolMismatchText } from './protocol';
import type { ITarget, KernelMessage, TargetState } from './protocol';

/** What a row shows: the kernel's state, or `expired` once the deadline passed while waiting. */
export type DisplayState = TargetState | 'expired';

export interface ITargetRow {
  id: string;
  label: string;
  address: string | null;
  state: DisplayState;
  /** Whole seconds left until the deadline (never negative), or null if none. */
  secondsLeft: number | null;
  canAttach: boolean;
  canDetach: boolean;
}

export class TargetListModel {
  /** Current targets, in the kernel's order. */
  get targets(): ReadonlyArray<ITarget> {
    return this._targets;
  }

  /** Kernel home directory, when the kernel reported it. */
  get home(): string | null {
    return this._home;
  }

  /** The comm protocol of the kernel's last snapshot (1 if it named none), null before one. */
  get kernelProtocol(): number | null {
    return this._protocol;
  }

  /** What to tell the user when the kernel speaks another protocol than ours, else null. */
  get mismatch(): string | null {
    return this._protocol === null || this._protocol === PROTOCOL_VERSION
      ? null
      : protocolMismatchText(this._protocol);
  }

  /** Kernel clock minus browser clock, seconds (0 until the kernel sends `now`). */
  get clockOffset(): number {
    return this._offset;
  }

  /**
   * Apply a kernel message. Returns true if the target list changed.
   *
   * @param nowSeconds - browser clock (epoch seconds) at receipt.
   */
  apply(message: KernelMessage, nowSeconds: number): boolean {
    switch (message.type) {
      case 'targets':
        this._targets = message.targets.map(t => ({ ...t }));
        if (typeof message.now === 'number') {
          this._offset = message.now - nowSeconds;
        }
        if (message.home !== undefined) {
          this._home = message.home;
        }
        this._protocol = message.protocol ?? 1;
        return true;
      case 'attached':
        return this._setState(message.target, 'attached', true);
      case 'detached':
        return this._setState(message.target, 'waiting', false);
      default:
        return false;
    }
  }

  /** Forget everything (kernel restarted or changed). */
  clear(): void {
    this._targets = [];
    this._home = null;
    this._offset = 0;
    this._protocol = null;
  }

  /** Rows for display at browser time `nowSeconds`. */
  rows(nowSeconds: number): ITargetRow[] {
    const kernelNow = nowSeconds + this._offset;
    const compatible = this.mismatch === null;
    const anyAttached = this._targets.some(t => t.state === 'attached');
    return this._targets.map(t => {
      const left = t.deadline === null ? null : t.deadline - kernelNow;
      const secondsLeft = left === null ? null : Math.max(0, Math.ceil(left));
      const expired = t.state === 'waiting' && left !== null && left <= 0;
      const state: DisplayState = expired ? 'expired' : t.state;
      return {
        id: t.id,
        label: t.label,
        address: t.address,
        state,
        secondsLeft: t.state === 'waiting' ? secondsLeft : null,
        canAttach:
          compatible &&
          !anyAttached &&
          (state === 'waiting' || state === 'lost') &&
          t.address !== null,
        canDetach: compatible && t.state === 'attached'
      };
    });
  }

  /** The target to attach to when none is named: the first waiting one, else the first lost one. */
  firstAttachable(nowSeconds: number): ITargetRow | null {
    const rows = this.rows(nowSeconds).filter(r => r.canAttach);
    return rows.find(r => r.state === 'waiting') ?? rows[0] ?? null;
  }

  /**
   * `attached`: the named target becomes attached and any other attached one
   * falls back to waiting (the kernel debugs one remote at a time).
   * `detached`: the named target goes back to waiting until the next snapshot
   * says otherwise.
   */
  private _setState(
    id: string,
    state: TargetState,
    exclusive: boolean
  ): boolean {
    let changed = false;
    this._targets = this._targets.map(t => {
      if (t.id === id && t.state !== state) {
        changed = true;
        return { ...t, state };
      }
      if (exclusive && t.id !== id && t.state === 'attached') {
        changed = true;
        return { ...t, state: 'waiting' };
      }
      return t;
    });
    return changed;
  }

  private _targets: ITarget[] = [];
  private _home: string | null = null;
  private _offset = 0;
  private _protocol: number | null = null;
}

/** `90` -> `1:30`, `3700` -> `1:01:40`; null -> empty. */
export function formatCountdown(seconds: number | null): string {
  if (seconds === null) {
    return '';
  }
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}
