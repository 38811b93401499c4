/**
 * The debug targets one kernel announced, as the sidebar shows them.
 *
 * Pure state: the kernel's `targets` snapshot is authoritative, down to each
 * target's state, detail and which of Attach / Detach applies; `attached` /
 * `detached` update it at once so the buttons react before the next snapshot.
 * Time is passed in (epoch seconds, browser clock) so tests control it.
 * A kernel that speaks another comm protocol offers nothing to attach to.
 */
import { PROTOCOL_VERSION, protocolMismatchText } from './protocol';
import type {
  DetachReason,
  ITarget,
  KernelMessage,
  TargetState
} from './protocol';

/**
 * What a row shows: the kernel's state, or `expired` for a waiting target
 * whose deadline passed before the kernel's next snapshot says what became of
 * it (the kernel still decides whether Attach applies).
 */
export type DisplayState = TargetState | 'expired';

export interface ITargetRow {
  id: string;
  label: string;
  address: string | null;
  state: DisplayState;
  /** The kernel's one line about the state, or null. */
  detail: string | null;
  /** Whole seconds left until the deadline (never negative), or null if none is counting. */
  secondsLeft: number | null;
  canAttach: boolean;
  canDetach: boolean;
}

/** What `attached` / `detached` change until the next snapshot. */
type TargetPatch = Partial<
  Pick<ITarget, 'state' | 'detail' | 'can_attach' | 'can_detach'>
>;

const ATTACHED: TargetPatch = {
  state: 'attached',
  detail: null,
  can_attach: false,
  can_detach: true
};
const DETACHED: TargetPatch = {
  state: 'detached',
  detail: null,
  can_attach: true,
  can_detach: false
};
/** Ended under the debugger: its final state comes with the next snapshot. */
const ENDED: TargetPatch = { can_attach: false, can_detach: false };

export class TargetListModel {
  /** Current targets, in the kernel's order. */
  get targets(): ReadonlyArray<ITarget> {
    return this._targets;
  }

  /** Kernel home directory, when the kernel reported it. */
  get home(): string | null {
    return this._home;
  }

  /** Kernel working directory, when the kernel reported it. */
  get cwd(): string | null {
    return this._cwd;
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
        if (message.cwd !== undefined) {
          this._cwd = message.cwd;
        }
        this._protocol = message.protocol ?? 1;
        return true;
      case 'attached':
        return this._onAttached(message.target);
      case 'detached':
        return this._onDetached(message.target, message.reason);
      default:
        return false;
    }
  }

  /** Forget everything (kernel restarted or changed). */
  clear(): void {
    this._targets = [];
    this._home = null;
    this._cwd = null;
    this._offset = 0;
    this._protocol = null;
  }

  /** Rows for display at browser time `nowSeconds`. */
  rows(nowSeconds: number): ITargetRow[] {
    const kernelNow = nowSeconds + this._offset;
    const compatible = this.mismatch === null;
    return this._targets.map(t => {
      const left = t.deadline === null ? null : t.deadline - kernelNow;
      const counting = left !== null && waitsForDebugger(t);
      const expired = t.state === 'waiting' && left !== null && left <= 0;
      return {
        id: t.id,
        label: t.label,
        address: t.address,
        state: expired ? 'expired' : t.state,
        detail: t.detail,
        secondsLeft: counting ? Math.max(0, Math.ceil(left)) : null,
        canAttach: compatible && t.can_attach,
        canDetach: compatible && t.can_detach
      };
    });
  }

  /**
   * The target to attach to when none is named: the first attachable one that
   * waits for a debugger (waiting, or stopped post-mortem), else the first
   * attachable one.
   */
  firstAttachable(nowSeconds: number): ITargetRow | null {
    const rows = this.rows(nowSeconds).filter(r => r.canAttach);
    return (
      rows.find(r => r.state === 'waiting' || r.state === 'post-mortem') ??
      rows[0] ??
      null
    );
  }

  /** The kernel debugs this target now, and no other: it debugs one remote at a time. */
  private _onAttached(id: string): boolean {
    return this._patch(t =>
      t.id === id ? ATTACHED : t.can_detach ? DETACHED : null
    );
  }

  /** The kernel let go of this target; one that ended cannot be attached again. */
  private _onDetached(id: string, reason: DetachReason | undefined): boolean {
    return this._patch(t =>
      t.id !== id ? null : reason === 'ended' ? ENDED : DETACHED
    );
  }

  /** Apply `patchOf(target)` to every target; true if any changed. */
  private _patch(patchOf: (target: ITarget) => TargetPatch | null): boolean {
    let changed = false;
    this._targets = this._targets.map(t => {
      const patch = patchOf(t);
      const differs =
        patch !== null &&
        (Object.keys(patch) as Array<keyof TargetPatch>).some(
          key => t[key] !== patch[key]
        );
      if (!differs) {
        return t;
      }
      changed = true;
      return { ...t, ...patch };
    });
    return changed;
  }

  private _targets: ITarget[] = [];
  private _home: string | null = null;
  private _cwd: string | null = null;
  private _offset = 0;
  private _protocol: number | null = null;
}

/**
 * Whether a deadline counts down for `target`: the remote waits for a
 * debugger until then (waiting, or post-mortem before anyone attached).
 */
function waitsForDebugger(target: ITarget): boolean {
  return (
    target.state === 'waiting' ||
    (target.state === 'post-mortem' && target.can_attach)
  );
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
