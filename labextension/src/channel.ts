/**
 * The `amldebug` comm with one notebook's kernel.
 *
 * Both ways a comm can appear are treated the same: the kernel opens one when
 * `%load_ext amldebug_jupyter` runs (we register the target), and we open one
 * with `hello` when a kernel connects or restarts (the kernel answers with a
 * targets snapshot, or closes it if the extension is not loaded). Only the
 * newest comm is kept open and used for sending.
 *
 * Attach and detach also go as the kernel's custom debug requests on the
 * control channel (`requestDebug`, as JupyterLab's debugger sends its own):
 * the kernel answers those while a cell runs, when comm messages, which use
 * the shell channel, would wait for the cell to finish.
 */
import type { Kernel, KernelMessage as KM } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';
import {
  COMM_TARGET,
  PROTOCOL_VERSION,
  checkFrontendMessage,
  foreignSnapshot,
  parseKernelMessage
} from './protocol';
import type {
  DebugCommand,
  FrontendMessage,
  IDebugReply,
  KernelMessage
} from './protocol';
import { TargetListModel } from './targets';

/** The part of a kernel connection the channel uses. */
export type KernelLike = Pick<
  Kernel.IKernelConnection,
  | 'id'
  | 'registerCommTarget'
  | 'removeCommTarget'
  | 'createComm'
  | 'statusChanged'
  | 'requestDebug'
  | 'isDisposed'
>;

/** The part of a session context the channel uses (kernel now, and changes). */
export interface IKernelSource {
  readonly kernelChanged: ISignal<
    unknown,
    { newValue: KernelLike | null; oldValue: KernelLike | null }
  >;
  readonly session: { readonly kernel: KernelLike | null } | null;
}

/** What the rest of the extension uses of a channel (KernelChannel; fakes in tests). */
export interface IKernelChannel extends IDisposable {
  /** Targets the kernel announced, and its protocol. */
  readonly model: TargetListModel;
  readonly kernel: { readonly id: string } | null;
  /** True while a comm to the kernel-side extension is open. */
  readonly isOpen: boolean;
  /** Every valid kernel message, after the model applied it. */
  readonly received: ISignal<unknown, KernelMessage>;
  /** The target list changed. */
  readonly changed: ISignal<unknown, void>;
  /** Send a message; false if no comm is open. */
  send(message: FrontendMessage): boolean;
  /**
   * Send a custom debug request on the control channel; its reply, or null
   * when the kernel connection has no `requestDebug` (then `send` instead).
   */
  requestDebug(
    command: DebugCommand,
    args: Record<string, string>
  ): Promise<IDebugReply> | null;
}

type CommLike = Pick<
  Kernel.IComm,
  'commId' | 'open' | 'send' | 'close' | 'onMsg' | 'onClose' | 'isDisposed'
>;

export class KernelChannel implements IKernelChannel {
  constructor(
    source: IKernelSource,
    now: () => number = () => Date.now() / 1000
  ) {
    this._source = source;
    this._now = now;
    source.kernelChanged.connect(this._onKernelChanged, this);
    this._attach(source.session?.kernel ?? null);
  }

  /** Targets the kernel announced. */
  readonly model = new TargetListModel();

  /** Every valid kernel message, after the model applied it. */
  get received(): ISignal<this, KernelMessage> {
    return this._received;
  }

  /** The target list changed (snapshot, attach/detach, kernel change). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get kernel(): KernelLike | null {
    return this._kernel;
  }

  /** True while a comm to the kernel-side extension is open. */
  get isOpen(): boolean {
    return this._comm !== null && !this._comm.isDisposed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Send a message; false if no comm is open (the extension is not loaded). */
  send(message: FrontendMessage): boolean {
    const checked = checkFrontendMessage(message);
    if (!checked.ok) {
      console.error(
        'amldebug: refusing to send invalid message',
        checked.error
      );
      return false;
    }
    if (!this._comm || this._comm.isDisposed) {
      return false;
    }
    void this._comm.send({ ...checked.message }).done.catch(reason => {
      console.warn('amldebug: comm message failed', reason);
    });
    return true;
  }

  /**
   * Send a custom debug request on the control channel; its reply, or null
   * when there is no kernel or its connection has no `requestDebug`. The
   * promise rejects when the connection goes away before the reply.
   */
  requestDebug(
    command: DebugCommand,
    args: Record<string, string>
  ): Promise<IDebugReply> | null {
    const kernel = this._kernel;
    if (!kernel || typeof kernel.requestDebug !== 'function') {
      return null;
    }
    const content = {
      seq: ++this._seq,
      type: 'request' as const,
      command,
      arguments: args
    };
    try {
      return kernel
        .requestDebug(content)
        .done.then(reply => reply.content as IDebugReply);
    } catch (reason) {
      return Promise.reject(reason); // a dead kernel throws at once
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._source.kernelChanged.disconnect(this._onKernelChanged, this);
    this._detach();
    Signal.clearData(this);
  }

  private _onKernelChanged(
    _: unknown,
    change: { newValue: KernelLike | null }
  ): void {
    this._detach();
    this._attach(change.newValue);
  }

  private _attach(kernel: KernelLike | null): void {
    this._kernel = kernel;
    if (!kernel) {
      return;
    }
    kernel.registerCommTarget(COMM_TARGET, this._onCommOpen);
    kernel.statusChanged.connect(this._onStatus, this);
    this._hello();
  }

  private _detach(): void {
    const kernel = this._kernel;
    if (kernel) {
      kernel.removeCommTarget(COMM_TARGET, this._onCommOpen);
      kernel.statusChanged.disconnect(this._onStatus, this);
    }
    this._kernel = null;
    this._comm = null;
    this._resetModel();
  }

  /** A restart loses the kernel-side state and disposes our comms: start over once idle. */
  private _onStatus(_: unknown, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting') {
      this._comm = null;
      this._helloAfterRestart = true;
      this._resetModel();
    } else if (status === 'dead') {
      this._comm = null;
      this._resetModel();
    } else if (status === 'idle' && this._helloAfterRestart) {
      this._helloAfterRestart = false;
      this._hello();
    }
  }

  private _hello(): void {
    const kernel = this._kernel;
    if (!kernel) {
      return;
    }
    let comm: CommLike;
    try {
      comm = kernel.createComm(COMM_TARGET);
    } catch (reason) {
      // Kernel connections that do not handle comms throw here.
      console.warn('amldebug: cannot open a comm on this kernel', reason);
      return;
    }
    this._adopt(comm);
    void comm
      .open({ type: 'hello', protocol: PROTOCOL_VERSION })
      .done.catch(() => {
        // No target on the kernel: it closes the comm; nothing to report.
      });
  }

  /**
   * The kernel opened a comm (`%load_ext`). Say hello on it: the kernel
   * answers with a fresh snapshot, so a change it sent while this page was
   * still setting the comm up (runs adopted right after a restart) is not
   * lost, and it learns this extension's protocol.
   */
  private _onCommOpen = (comm: Kernel.IComm, msg: KM.ICommOpenMsg): void => {
    this._adopt(comm);
    this._handle(msg.content.data);
    this.send({ type: 'hello', protocol: PROTOCOL_VERSION });
  };

  /**
   * Use `comm` from now on. An older open comm is closed, so that a kernel
   * that broadcasts to every comm (e.g. after `%reload_ext`) does not make
   * this page handle each message twice.
   */
  private _adopt(comm: CommLike): void {
    const previous = this._comm;
    this._comm = comm;
    if (previous && previous !== comm && !previous.isDisposed) {
      try {
        previous.close();
      } catch (reason) {
        console.warn('amldebug: could not close the previous comm', reason);
      }
    }
    comm.onMsg = (msg: KM.ICommMsgMsg) => this._handle(msg.content.data);
    comm.onClose = () => {
      if (this._comm === comm) {
        this._comm = null;
      }
    };
  }

  private _handle(data: unknown): void {
    const parsed = parseKernelMessage(data);
    let message: KernelMessage;
    if (parsed.ok) {
      message = parsed.message;
    } else {
      // A kernel of another protocol may send shapes we cannot read: keep its protocol.
      const foreign = foreignSnapshot(data);
      if (!foreign) {
        console.warn('amldebug: ignoring invalid comm message:', parsed.error);
        return;
      }
      message = foreign;
    }
    if (this.model.apply(message, this._now())) {
      this._changed.emit();
    }
    this._received.emit(message);
  }

  private _resetModel(): void {
    const shown = this.model.targets.length > 0 || this.model.mismatch !== null;
    this.model.clear();
    if (shown) {
      this._changed.emit();
    }
  }

  private _source: IKernelSource;
  private _now: () => number;
  private _kernel: KernelLike | null = null;
  private _comm: CommLike | null = null;
  private _helloAfterRestart = false;
  private _seq = 0;
  private _isDisposed = false;
  private _received = new Signal<this, KernelMessage>(this);
  private _changed = new Signal<this, void>(this);
}
