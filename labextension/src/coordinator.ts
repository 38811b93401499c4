/**
 * What the extension does with the notebooks' comms: one channel per notebook
 * session, the kernel's messages turned into debugger actions and
 * notifications, and the attach / detach requests of the commands.
 *
 * - `attached`: turn JupyterLab's debugger on for the notebook and open the
 *   step script at its line. When the debugger's start fails, the kernel
 *   usually reports why (an unreachable step) as a `problem`: wait a moment
 *   for it, and show only that one notification, not a second vaguer one.
 * - `detached` (whatever the reason): turn the debugger off, so that the next
 *   attach starts it again without a click on the bug icon.
 * - `problem`: a notification.
 * - `targets` of another comm protocol: one notification per kernel, and
 *   nothing to attach to (the model's `mismatch`).
 *
 * Attach and detach go to the kernel as debug requests on the control channel
 * (answered even while a cell runs), on the comm only when the kernel
 * connection cannot send those. A notebook that closes while attached asks
 * its kernel to detach, so the paused remote step goes on.
 *
 * Everything JupyterLab-specific comes in through `AttachCoordinator.IOptions`
 * (the notebook tracker, the debugger control, the notifier), so jest drives
 * it with fakes.
 */
import type { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';
import { KernelChannel } from './channel';
import type { IKernelChannel, IKernelSource } from './channel';
import type { IKernelPlace } from './paths';
import { PROTOCOL_VERSION } from './protocol';
import type {
  FrontendMessage,
  IDebugReply,
  IProblemMessage,
  KernelMessage
} from './protocol';
import { DEFAULT_SETTINGS, autoClose } from './settings';
import type { ISettings } from './settings';

export const NOT_LOADED =
  'The kernel has no amldebug comm: run %load_ext amldebug_jupyter first.';
export const NO_DEBUGGER =
  "Attached, but JupyterLab's debugger is not available here.";
export const NOTHING_WAITING =
  'No debug target of this notebook is waiting for a debugger.';

/** How long the kernel may take to answer attach / detach before we say so. */
export const REQUEST_TIMEOUT_MS = 10_000;
export const NO_ANSWER =
  `The kernel has not answered for ${REQUEST_TIMEOUT_MS / 1000} s; ` +
  'it may be stuck (restart it if nothing happens).';

type AttachOrDetach = Extract<FrontendMessage, { type: 'attach' | 'detach' }>;

/** The first line of a text (replies and errors are shown in a one-line toast). */
function firstLine(text: string): string {
  return text.split('\n', 1)[0].trim();
}

/** Whether a notebook's session or kernel connection is going away (it closes). */
function isClosing(session: AttachCoordinator.ISession): boolean {
  return session.isDisposed || session.session?.kernel?.isDisposed === true;
}

export class AttachCoordinator<
  P extends AttachCoordinator.IPanel
> implements IDisposable {
  constructor(options: AttachCoordinator.IOptions<P>) {
    this._notebooks = options.notebooks;
    this._control = options.control;
    this._notifier = options.notifier;
    this._createChannel =
      options.createChannel ?? (session => new KernelChannel(session));
    this._settings = options.settings ?? DEFAULT_SETTINGS;
    this._now = options.now ?? (() => Date.now());
    this._wait =
      options.wait ?? (ms => new Promise(resolve => setTimeout(resolve, ms)));

    this._notebooks.forEach(panel => this._track(panel));
    this._notebooks.widgetAdded.connect(this._onAdded, this);
    this._notebooks.currentChanged.connect(this._onCurrentChanged, this);
  }

  /** The settings in use; set when the user changes them. */
  get settings(): Readonly<ISettings> {
    return this._settings;
  }
  set settings(settings: Readonly<ISettings>) {
    this._settings = settings;
  }

  /** The current notebook's channel, or null without a notebook. */
  get currentChannel(): IKernelChannel | null {
    const current = this._notebooks.currentWidget;
    return current
      ? (this._channels.get(current.sessionContext) ?? null)
      : null;
  }

  /** The current notebook's name ('' without one). */
  get currentName(): string {
    return this._notebooks.currentWidget?.title.label ?? '';
  }

  /**
   * Something the commands and the panel show changed: the current notebook,
   * or a channel's targets or comm.
   */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** The targets announced by the kernel with this id, if a notebook has it. */
  channelForKernel(kernelId: string): IKernelChannel | null {
    for (const channel of this._channels.values()) {
      if (channel.kernel?.id === kernelId) {
        return channel;
      }
    }
    return null;
  }

  /** Whether `attach(target)` can do anything in the current notebook now. */
  canAttach(target?: string): boolean {
    const channel = this._usable();
    if (!channel) {
      return false;
    }
    const now = this._now() / 1000;
    if (target === undefined) {
      return channel.model.firstAttachable(now) !== null;
    }
    return channel.model.rows(now).some(r => r.id === target && r.canAttach);
  }

  /** Whether the current notebook's kernel is attached to a target. */
  canDetach(): boolean {
    const channel = this._usable();
    return (
      channel !== null &&
      channel.model.rows(this._now() / 1000).some(r => r.canDetach)
    );
  }

  /**
   * Ask the current notebook's kernel to attach to `target`, or to its first
   * waiting target. False (with a warning when the user can act on it) if
   * nothing was sent; a refusal the kernel answers is a warning too.
   */
  attach(target?: string): boolean {
    const channel = this._usable(true);
    if (!channel) {
      return false;
    }
    if (!channel.isOpen) {
      this._warn(NOT_LOADED);
      return false;
    }
    const id =
      target ?? channel.model.firstAttachable(this._now() / 1000)?.id ?? null;
    if (id === null) {
      this._warn(NOTHING_WAITING);
      return false;
    }
    return this._request(channel, { type: 'attach', target: id });
  }

  /** Ask the current notebook's kernel to detach. False if nothing was sent. */
  detach(): boolean {
    const channel = this._usable(true);
    if (!channel) {
      return false;
    }
    if (!channel.isOpen) {
      this._warn(NOT_LOADED);
      return false;
    }
    return this._request(channel, { type: 'detach' });
  }

  /** The script `openScript(target)` would open, or null. */
  scriptOf(target?: string): string | null {
    const channel = this._usable();
    if (!channel) {
      return null;
    }
    const targets = channel.model.targets;
    const found =
      target !== undefined
        ? targets.find(t => t.id === target)
        : (targets.find(t => t.can_detach && t.script) ??
          targets.find(t => t.script));
    return found?.script ?? null;
  }

  /** Open a target's script (the attached one's, else the first's) in a file editor. */
  async openScript(target?: string): Promise<void> {
    const script = this.scriptOf(target);
    const current = this._notebooks.currentWidget;
    const channel = this.currentChannel;
    if (script === null || !current || !channel) {
      return;
    }
    try {
      const place = placeOf(channel, current.sessionContext);
      await this._control.openScript(script, null, place);
    } catch (reason) {
      this._reportFailure(`Could not open ${script}`, reason);
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._notebooks.widgetAdded.disconnect(this._onAdded, this);
    this._notebooks.currentChanged.disconnect(this._onCurrentChanged, this);
    for (const channel of this._channels.values()) {
      channel.dispose();
    }
    this._channels.clear();
    Signal.clearData(this);
  }

  /**
   * The current channel, if its kernel speaks our protocol. With `explain`, a
   * channel whose comm is not open is still returned (sending then warns).
   */
  private _usable(explain = false): IKernelChannel | null {
    const channel = this.currentChannel;
    if (!channel || channel.model.mismatch !== null) {
      return null;
    }
    return channel.isOpen || explain ? channel : null;
  }

  /**
   * Send attach / detach: as a debug request on the control channel when the
   * kernel connection can, else on the comm. False (with a warning) if
   * nothing was sent.
   */
  private _request(channel: IKernelChannel, message: AttachOrDetach): boolean {
    const reply =
      message.type === 'attach'
        ? channel.requestDebug('amldebugAttach', { target: message.target })
        : channel.requestDebug('amldebugDetach', {});
    if (reply !== null) {
      void this._awaitReply(channel, reply);
      return true;
    }
    if (!channel.send(message)) {
      this._warn(NOT_LOADED);
      return false;
    }
    return true;
  }

  /**
   * Say why the kernel refused a request (its one-line `message`), or, once,
   * that it has not answered in time. Nothing to say when the notebook went
   * away meanwhile.
   */
  private async _awaitReply(
    channel: IKernelChannel,
    reply: Promise<IDebugReply>
  ): Promise<void> {
    let answered = false;
    void this._wait(REQUEST_TIMEOUT_MS).then(() => {
      if (!answered && !channel.isDisposed) {
        this._warn(NO_ANSWER);
      }
    });
    try {
      const { success, message } = await reply;
      if (!success) {
        this._warn(firstLine(message ?? '') || 'The kernel refused.');
      }
    } catch (reason) {
      if (!channel.isDisposed) {
        console.warn('amldebug: no answer from the kernel', reason);
        this._warn(`No answer from the kernel: ${firstLine(String(reason))}`);
      }
    } finally {
      answered = true;
    }
  }

  /**
   * A notebook closing while its kernel is attached: ask the kernel to let
   * the remote step go on, without waiting for an answer. This runs on the
   * session context's `disposed`, which it emits before it disposes its
   * session connection (SessionContext.dispose in @jupyterlab/apputils), so
   * the kernel connection still sends (at once, on its open socket).
   */
  private _letGo(channel: IKernelChannel): void {
    const rows = channel.model.rows(this._now() / 1000);
    if (!rows.some(r => r.canDetach)) {
      return;
    }
    channel.requestDebug('amldebugDetach', {})?.catch(reason => {
      console.debug('amldebug: no answer to the detach at close', reason);
    });
  }

  private _onAdded(_: unknown, panel: P): void {
    this._track(panel);
    this._changed.emit();
  }

  private _onCurrentChanged(): void {
    this._changed.emit();
  }

  private _track(panel: P): void {
    const session = panel.sessionContext;
    if (this._channels.has(session)) {
      return;
    }
    const channel = this._createChannel(session);
    this._channels.set(session, channel);
    channel.received.connect((_, message) => {
      void this._onMessage(channel, session, message);
    });
    channel.changed.connect(() => this._changed.emit());
    session.disposed.connect(() => {
      this._letGo(channel);
      channel.dispose();
      this._channels.delete(session);
      this._changed.emit();
    });
  }

  /** The panel to drive for a session (two views of one notebook share it). */
  private _panelFor(session: AttachCoordinator.ISession): P | null {
    const current = this._notebooks.currentWidget;
    if (current?.sessionContext === session) {
      return current;
    }
    return this._notebooks.find(p => p.sessionContext === session) ?? null;
  }

  private async _onMessage(
    channel: IKernelChannel,
    session: AttachCoordinator.ISession,
    message: KernelMessage
  ): Promise<void> {
    switch (message.type) {
      case 'attached':
        return this._onAttached(channel, session, message);
      case 'detached':
        return this._onDetached(session);
      case 'problem':
        return this._onProblem(channel, message);
      case 'targets':
        // The model already holds it; `changed` refreshes views.
        return this._checkProtocol(channel);
    }
  }

  private async _onAttached(
    channel: IKernelChannel,
    session: AttachCoordinator.ISession,
    message: { target: string; script: string | null; line: number | null }
  ): Promise<void> {
    const panel = this._panelFor(session);
    if (!panel) {
      return;
    }
    const settings = this._settings;
    if (settings.toggleDebugger) {
      if (!this._control.available) {
        this._notifier.warning(
          NO_DEBUGGER,
          autoClose(settings.noDebuggerAutoCloseMs)
        );
        return;
      }
      try {
        await this._control.enable(panel);
      } catch (reason) {
        // An unreachable remote fails the debugger's start, and the kernel reports
        // why as a problem: show that one notification, not a second vaguer one.
        const wait = settings.kernelReportWaitMs;
        const since = this._now();
        await this._wait(wait);
        if (
          (this._problemAt.get(message.target) ?? -Infinity) >=
          since - wait
        ) {
          console.warn('amldebug: the debugger did not start', reason);
        } else {
          this._reportFailure('Could not turn the debugger on', reason);
        }
        return;
      }
    }
    if (message.script && settings.openScriptOnAttach) {
      try {
        await this._control.openScript(
          message.script,
          message.line,
          placeOf(channel, session)
        );
      } catch (reason) {
        this._reportFailure(`Could not open ${message.script}`, reason);
      }
    }
  }

  private async _onDetached(
    session: AttachCoordinator.ISession
  ): Promise<void> {
    const panel = this._panelFor(session);
    if (!panel || !this._settings.toggleDebugger) {
      return;
    }
    try {
      await this._control.disable(panel);
    } catch (reason) {
      if (isClosing(session)) {
        // Closing the notebook cancels the debugger's requests to its kernel.
        console.debug('amldebug: the debugger went with its notebook', reason);
        return;
      }
      this._reportFailure('Could not turn the debugger off', reason);
    }
  }

  private _onProblem(channel: IKernelChannel, problem: IProblemMessage): void {
    if (problem.target !== null) {
      this._problemAt.set(problem.target, this._now());
    }
    if (problem.kind === 'protocol_mismatch') {
      // The kernel's view of the mismatch we may have shown already. A kernel
      // that speaks our protocol is answering another page's hello.
      const key = this._kernelKey(channel);
      if (
        this._mismatchShown.has(key) ||
        channel.model.kernelProtocol === PROTOCOL_VERSION
      ) {
        return;
      }
      this._mismatchShown.add(key);
    }
    this._notifier.problem(problem, {
      deadlineSoonAutoClose: autoClose(this._settings.deadlineSoonAutoCloseMs)
    });
  }

  /** One notification per kernel that speaks another protocol. */
  private _checkProtocol(channel: IKernelChannel): void {
    const mismatch = channel.model.mismatch;
    const key = this._kernelKey(channel);
    if (mismatch === null || this._mismatchShown.has(key)) {
      return;
    }
    this._mismatchShown.add(key);
    console.warn(`amldebug: ${mismatch}`);
    this._notifier.error(mismatch);
  }

  private _kernelKey(channel: IKernelChannel): string {
    return channel.kernel?.id ?? '';
  }

  private _warn(text: string): void {
    this._notifier.warning(text, autoClose(this._settings.warningAutoCloseMs));
  }

  private _reportFailure(what: string, reason: unknown): void {
    console.error(`amldebug: ${what}`, reason);
    this._notifier.error(`${what}: ${String(reason)}`.slice(0, 140));
  }

  private _notebooks: AttachCoordinator.INotebooks<P>;
  private _control: AttachCoordinator.IDebuggerControl<P>;
  private _notifier: AttachCoordinator.INotifier;
  private _createChannel: (
    session: AttachCoordinator.ISession
  ) => IKernelChannel;
  private _settings: Readonly<ISettings>;
  private _now: () => number;
  private _wait: (ms: number) => Promise<void>;
  private _channels = new Map<AttachCoordinator.ISession, IKernelChannel>();
  /** When the kernel last reported a problem (ms), per target: its text says more than ours. */
  private _problemAt = new Map<string, number>();
  /** Kernels whose protocol mismatch the user was told about. */
  private _mismatchShown = new Set<string>();
  private _changed = new Signal<this, void>(this);
  private _isDisposed = false;
}

/** Where a channel's kernel paths are, for the notebook of `session`. */
function placeOf(
  channel: IKernelChannel,
  session: AttachCoordinator.ISession
): IKernelPlace {
  const { home, cwd } = channel.model;
  return { home, cwd, notebookPath: session.path || null };
}

export namespace AttachCoordinator {
  /** A notebook's session context, as far as the coordinator uses it. */
  export interface ISession extends IKernelSource {
    /** The notebook's path relative to the server root. */
    readonly path: string;
    readonly isDisposed: boolean;
    readonly disposed: ISignal<unknown, void>;
  }

  /** A notebook panel, as far as the coordinator uses it. */
  export interface IPanel {
    readonly sessionContext: ISession;
    readonly title: { readonly label: string };
  }

  /** The notebook tracker, as far as the coordinator uses it. */
  export interface INotebooks<P extends IPanel> {
    readonly currentWidget: P | null;
    find(fn: (panel: P) => boolean): P | undefined;
    forEach(fn: (panel: P) => void): void;
    readonly widgetAdded: ISignal<unknown, P>;
    readonly currentChanged: ISignal<unknown, P | null>;
  }

  /** JupyterLab's debugger, as `DebuggerControl` drives it. */
  export interface IDebuggerControl<P> {
    readonly available: boolean;
    enable(panel: P): Promise<boolean>;
    disable(panel: P): Promise<void>;
    /** Open `path`, an absolute kernel path, mapped with what `place` says. */
    openScript(
      path: string,
      line: number | null,
      place: IKernelPlace
    ): Promise<void>;
  }

  /** Notifications (JupyterLab's `Notification` in the extension). */
  export interface INotifier {
    /** A kernel `problem`. */
    problem(
      problem: IProblemMessage,
      options: { deadlineSoonAutoClose: number | false }
    ): void;
    warning(message: string, autoClose: number | false): void;
    /** An error that stays until dismissed. */
    error(message: string): void;
  }

  export interface IOptions<P extends IPanel> {
    notebooks: INotebooks<P>;
    control: IDebuggerControl<P>;
    notifier: INotifier;
    /** A channel per session (default: a `KernelChannel`). */
    createChannel?: (session: ISession) => IKernelChannel;
    settings?: Readonly<ISettings>;
    /** Clock in milliseconds (default `Date.now`). */
    now?: () => number;
    /** Resolve after `ms` milliseconds (default `setTimeout`). */
    wait?: (ms: number) => Promise<void>;
  }
}
