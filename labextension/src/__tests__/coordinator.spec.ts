import { Signal } from '@lumino/signaling';
import type { IKernelChannel, KernelLike } from '../channel';
import {
  AttachCoordinator,
  NO_ANSWER,
  NOT_LOADED,
  NOTHING_WAITING,
  NO_DEBUGGER,
  REQUEST_TIMEOUT_MS
} from '../coordinator';
import type { IKernelPlace } from '../paths';
import { PROTOCOL_VERSION, protocolMismatchText } from '../protocol';
import type {
  DebugCommand,
  FrontendMessage,
  IDebugReply,
  ITarget,
  KernelMessage
} from '../protocol';
import { DEFAULT_SETTINGS } from '../settings';
import { TargetListModel } from '../targets';
import { target } from './fixtures';

/** A debug request the fake kernel has not answered yet. */
interface IPendingRequest {
  command: DebugCommand;
  args: Record<string, string>;
  reply(reply: IDebugReply): void;
  fail(reason: Error): void;
}

/**
 * A channel whose kernel is played by `deliver`; records what was sent on the
 * comm (`sent`) and on the control channel (`requests`, answered by the test).
 */
class FakeChannel implements IKernelChannel {
  constructor(kernelId: string) {
    this.kernel = { id: kernelId };
  }
  readonly model = new TargetListModel();
  readonly kernel: { id: string } | null;
  isOpen = true;
  isDisposed = false;
  /** False: a kernel connection without `requestDebug`. */
  control = true;
  sent: FrontendMessage[] = [];
  requests: IPendingRequest[] = [];
  readonly received = new Signal<this, KernelMessage>(this);
  readonly changed = new Signal<this, void>(this);
  send(message: FrontendMessage): boolean {
    if (!this.isOpen) {
      return false;
    }
    this.sent.push(message);
    return true;
  }
  requestDebug(
    command: DebugCommand,
    args: Record<string, string>
  ): Promise<IDebugReply> | null {
    if (!this.control) {
      return null;
    }
    return new Promise((reply, fail) =>
      this.requests.push({ command, args, reply, fail })
    );
  }
  /** The requests sent, as `command {args}`. */
  get asked(): string[] {
    return this.requests.map(r => `${r.command} ${JSON.stringify(r.args)}`);
  }
  deliver(message: KernelMessage): void {
    if (this.model.apply(message, 0)) {
      this.changed.emit();
    }
    this.received.emit(message);
  }
  dispose(): void {
    this.isDisposed = true;
  }
}

/** A notebook's session context; `close` disposes it as JupyterLab does. */
class FakeSession {
  constructor(readonly path: string) {}
  kernelChanged = new Signal<this, never>(this);
  private _kernel = { isDisposed: false };
  readonly session = { kernel: this._kernel as unknown as KernelLike };
  isDisposed = false;
  disposed = new Signal<this, void>(this);
  /** SessionContext.dispose: flag, `disposed`, then the connections go. */
  close() {
    this.isDisposed = true;
    this.disposed.emit();
    this._kernel.isDisposed = true;
  }
}

class FakePanel {
  constructor(readonly label: string) {
    this.sessionContext = new FakeSession(`sub/${label}`);
  }
  readonly sessionContext: FakeSession;
  get title() {
    return { label: this.label };
  }
}

class FakeNotebooks {
  panels: FakePanel[] = [];
  currentWidget: FakePanel | null = null;
  widgetAdded = new Signal<this, FakePanel>(this);
  currentChanged = new Signal<this, FakePanel | null>(this);
  find(fn: (panel: FakePanel) => boolean) {
    return this.panels.find(fn);
  }
  forEach(fn: (panel: FakePanel) => void) {
    this.panels.forEach(fn);
  }
  open(panel: FakePanel) {
    this.panels.push(panel);
    this.widgetAdded.emit(panel);
    this.currentWidget = panel;
    this.currentChanged.emit(panel);
  }
}

/** DebuggerControl's part; `failEnable` makes the debugger's start fail. */
class FakeControl {
  available = true;
  failEnable: Error | null = null;
  calls: string[] = [];
  async enable(panel: FakePanel) {
    this.calls.push(`enable ${panel.label}`);
    if (this.failEnable) {
      throw this.failEnable;
    }
    return true;
  }
  /** Set to make turning the debugger off fail, given the panel. */
  failDisable: ((panel: FakePanel) => Error) | null = null;
  async disable(panel: FakePanel) {
    this.calls.push(`disable ${panel.label}`);
    if (this.failDisable) {
      throw this.failDisable(panel);
    }
  }
  async openScript(path: string, line: number | null, place: IKernelPlace) {
    const { home, cwd, notebookPath } = place;
    this.calls.push(
      `open ${path}:${line} home=${home} cwd=${cwd} notebook=${notebookPath}`
    );
  }
}

class FakeNotifier implements AttachCoordinator.INotifier {
  shown: string[] = [];
  problem(
    problem: { kind: string; message: string },
    options: { deadlineSoonAutoClose: number | false }
  ) {
    const close =
      problem.kind === 'deadline_soon'
        ? ` (closes ${options.deadlineSoonAutoClose})`
        : '';
    this.shown.push(`problem ${problem.kind}: ${problem.message}${close}`);
  }
  warning(message: string, autoClose: number | false) {
    this.shown.push(`warning: ${message} (closes ${autoClose})`);
  }
  error(message: string) {
    this.shown.push(`error: ${message}`);
  }
}

/** Let every pending promise callback run. */
function flush(): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, 0));
}

function setup(settings = DEFAULT_SETTINGS) {
  const notebooks = new FakeNotebooks();
  const control = new FakeControl();
  const notifier = new FakeNotifier();
  const channels = new Map<FakeSession, FakeChannel>();
  let kernels = 0;
  const clock = { now: 1_000_000 };
  const waits: Array<{ ms: number; release: () => void }> = [];
  const coordinator = new AttachCoordinator<FakePanel>({
    notebooks,
    control,
    notifier,
    settings,
    createChannel: session => {
      const channel = new FakeChannel(`k${++kernels}`);
      channels.set(session as FakeSession, channel);
      return channel;
    },
    now: () => clock.now,
    wait: ms =>
      new Promise<void>(resolve => waits.push({ ms, release: resolve }))
  });
  /** Open a notebook (it becomes current) and return its channel. */
  const open = (label = 'a.ipynb') => {
    const panel = new FakePanel(label);
    notebooks.open(panel);
    return { panel, channel: channels.get(panel.sessionContext)! };
  };
  return { coordinator, notebooks, control, notifier, clock, waits, open };
}

const waiting = (id = 'run1:train', overrides: Partial<ITarget> = {}) =>
  target({ id, deadline: null, ...overrides });

/** A target under the debugger: the kernel offers Detach only. */
const held = (id = 'run1:train', overrides: Partial<ITarget> = {}) =>
  waiting(id, {
    state: 'paused',
    can_attach: false,
    can_detach: true,
    ...overrides
  });

/** A protocol-2 snapshot of `targets`. */
const snapshot = (
  targets: ITarget[],
  extra: Partial<Extract<KernelMessage, { type: 'targets' }>> = {}
): KernelMessage => ({
  type: 'targets',
  targets,
  protocol: PROTOCOL_VERSION,
  ...extra
});

const attached = (script: string | null = '/home/u/steps/train.py') =>
  ({
    type: 'attached',
    target: 'run1:train',
    script,
    line: 12
  }) as const;

function problem(
  kind: 'unreachable' | 'protocol_mismatch' | 'deadline_soon' | 'ended',
  target: string | null,
  message: string
): KernelMessage {
  return { type: 'problem', kind, target, message, details: null };
}

describe('AttachCoordinator', () => {
  let warn: jest.SpyInstance;
  let error: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    error = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => {
    warn.mockRestore();
    error.mockRestore();
  });

  it('turns the debugger on at attached and opens the script at the line', async () => {
    const { control, notifier, open } = setup();
    const { channel } = open('a.ipynb');
    channel.deliver(
      snapshot([waiting()], { home: '/home/u', cwd: '/home/u/work/sub' })
    );
    channel.deliver(attached());
    await flush();
    expect(control.calls).toEqual([
      'enable a.ipynb',
      'open /home/u/steps/train.py:12 home=/home/u cwd=/home/u/work/sub notebook=sub/a.ipynb'
    ]);
    expect(notifier.shown).toEqual([]);
  });

  it('shows only the kernel report when the debugger fails to start', async () => {
    const { control, notifier, waits, clock, open } = setup();
    const { channel } = open();
    control.failEnable = new Error('connection refused');
    channel.deliver(attached());
    await flush();
    expect(waits.map(w => w.ms)).toEqual([1500]);
    clock.now += 700; // within the wait, the kernel says why
    channel.deliver(problem('unreachable', 'run1:train', 'Step unreachable'));
    waits[0].release();
    await flush();
    expect(notifier.shown).toEqual(['problem unreachable: Step unreachable']);
    expect(control.calls).toEqual(['enable a.ipynb']); // no script opened
  });

  it('reports a failed start itself when the kernel says nothing', async () => {
    const { control, notifier, waits, clock, open } = setup();
    const { channel } = open();
    control.failEnable = new Error('boom');
    channel.deliver(
      problem('unreachable', 'run1:train', 'an old report, long ago')
    );
    clock.now += 10_000;
    channel.deliver(attached());
    await flush();
    clock.now += 1500;
    waits[0].release();
    await flush();
    expect(notifier.shown).toEqual([
      'problem unreachable: an old report, long ago',
      'error: Could not turn the debugger on: Error: boom'
    ]);
  });

  it('waits as long as the setting says', async () => {
    const { control, waits, open } = setup({
      ...DEFAULT_SETTINGS,
      kernelReportWaitMs: 300
    });
    control.failEnable = new Error('boom');
    open().channel.deliver(attached());
    await flush();
    expect(waits.map(w => w.ms)).toEqual([300]);
  });

  it('turns the debugger off at detached, whatever the reason', async () => {
    const { control, notifier, open } = setup();
    const { channel } = open('b.ipynb');
    channel.deliver({ type: 'detached', target: 'run1:train' });
    for (const reason of ['user', 'ended', 'lost'] as const) {
      channel.deliver({ type: 'detached', target: 'run1:train', reason });
    }
    await flush();
    expect(control.calls).toEqual(Array(4).fill('disable b.ipynb'));
    expect(notifier.shown).toEqual([]);
  });

  it('reports a failure to turn the debugger off', async () => {
    const { control, notifier, open } = setup();
    const { channel } = open('b.ipynb');
    control.failDisable = () => new Error('boom');
    channel.deliver({ type: 'detached', target: 'run1:train' });
    await flush();
    expect(notifier.shown).toEqual([
      'error: Could not turn the debugger off: Error: boom'
    ]);
  });

  it('says nothing when the debugger goes off with its closing notebook', async () => {
    const { control, notifier, open } = setup();
    const { channel, panel } = open('b.ipynb');
    const debug = jest
      .spyOn(console, 'debug')
      .mockImplementation(() => undefined);
    // The notebook closes while the debugger's disconnect is on its way.
    control.failDisable = failing => {
      failing.sessionContext.close();
      return new Error('Canceled future for debug_request message');
    };
    channel.deliver({ type: 'detached', target: 'run1:train', reason: 'user' });
    await flush();
    expect(control.calls).toEqual(['disable b.ipynb']);
    expect(panel.sessionContext.isDisposed).toBe(true);
    expect(notifier.shown).toEqual([]);
    expect(debug).toHaveBeenCalled();
    debug.mockRestore();
  });

  it('passes the kernel report of a step that ended on', () => {
    const { notifier, open } = setup();
    open().channel.deliver(problem('ended', 'run1:train', 'train failed'));
    expect(notifier.shown).toEqual(['problem ended: train failed']);
  });

  it('leaves the debugger alone when the setting says so', async () => {
    const { control, open } = setup({
      ...DEFAULT_SETTINGS,
      toggleDebugger: false
    });
    const { channel } = open();
    channel.deliver(attached());
    channel.deliver({ type: 'detached', target: 'run1:train' });
    await flush();
    expect(control.calls).toEqual([
      'open /home/u/steps/train.py:12 home=null cwd=null notebook=sub/a.ipynb'
    ]);
  });

  it('warns when there is no debugger to turn on', async () => {
    const { control, notifier, open } = setup();
    control.available = false;
    open().channel.deliver(attached());
    await flush();
    expect(notifier.shown).toEqual([`warning: ${NO_DEBUGGER} (closes 8000)`]);
    expect(control.calls).toEqual([]);
  });

  it('passes problems on, with the deadline warning closing as set', () => {
    const { coordinator, notifier, open } = setup();
    const { channel } = open();
    channel.deliver(problem('deadline_soon', 'run1:train', 'soon'));
    coordinator.settings = { ...DEFAULT_SETTINGS, deadlineSoonAutoCloseMs: 0 };
    channel.deliver(problem('deadline_soon', 'run1:train', 'sooner'));
    expect(notifier.shown).toEqual([
      'problem deadline_soon: soon (closes 10000)',
      'problem deadline_soon: sooner (closes false)'
    ]);
  });

  describe('protocol versions', () => {
    const other = PROTOCOL_VERSION + 1;

    it('says once per kernel that it speaks another protocol, and offers nothing', () => {
      const { coordinator, notifier, open } = setup();
      const { channel } = open('a.ipynb');
      const foreign = snapshot([waiting()], { protocol: other });
      channel.deliver(foreign);
      channel.deliver(foreign);
      // The kernel's own report of the same mismatch (the answer to our hello).
      channel.deliver(
        problem('protocol_mismatch', null, 'The JupyterLab extension speaks…')
      );
      expect(notifier.shown).toEqual([`error: ${protocolMismatchText(other)}`]);
      expect(notifier.shown[0]).toBe(
        `error: The kernel's amldebug_jupyter speaks comm protocol ${other}, ` +
          `this JupyterLab extension speaks ${PROTOCOL_VERSION}: install the ` +
          "same amldebug-jupyter version in the kernel's environment and in " +
          "JupyterLab's."
      );
      expect(coordinator.canAttach()).toBe(false);
      expect(coordinator.canAttach('run1:train')).toBe(false);
      expect(coordinator.attach()).toBe(false);
      expect(coordinator.attach('run1:train')).toBe(false);
      expect(channel.sent).toEqual([]);
      expect(channel.requests).toEqual([]);

      open('b.ipynb').channel.deliver(foreign); // another kernel
      expect(notifier.shown).toHaveLength(2);
    });

    it('takes a snapshot without a protocol for protocol 1, and says so', () => {
      const { coordinator, notifier, open } = setup();
      const { channel } = open();
      channel.deliver({ type: 'targets', targets: [waiting()] });
      expect(channel.model.kernelProtocol).toBe(1);
      expect(notifier.shown).toEqual([`error: ${protocolMismatchText(1)}`]);
      expect(coordinator.canAttach()).toBe(false);
    });

    it("shows the kernel's mismatch report once when it comes first", () => {
      const { notifier, open } = setup();
      const { channel } = open();
      const report = problem('protocol_mismatch', null, 'kernel says');
      channel.deliver(report);
      channel.deliver(report);
      channel.deliver({ type: 'targets', targets: [], protocol: other });
      expect(notifier.shown).toEqual([
        'problem protocol_mismatch: kernel says'
      ]);
    });

    it("ignores a kernel's mismatch report meant for another page", () => {
      const { notifier, open } = setup();
      const { channel } = open();
      channel.deliver(snapshot([]));
      channel.deliver(problem('protocol_mismatch', null, 'another hello'));
      expect(notifier.shown).toEqual([]);
    });
  });

  describe('attach and detach requests', () => {
    it('attaches to the first waiting target of the current notebook', () => {
      const { coordinator, open } = setup();
      const { channel } = open();
      channel.deliver(
        snapshot([
          waiting('run1:prep', { state: 'completed', can_attach: false }),
          waiting('run1:lost', { state: 'lost' }),
          waiting('run1:train'),
          waiting('run1:score')
        ])
      );
      expect(coordinator.canAttach()).toBe(true);
      expect(coordinator.attach()).toBe(true);
      expect(coordinator.attach('run1:score')).toBe(true);
      // On the control channel: answered while a cell runs.
      expect(channel.asked).toEqual([
        'amldebugAttach {"target":"run1:train"}',
        'amldebugAttach {"target":"run1:score"}'
      ]);
      expect(channel.sent).toEqual([]);
      expect(coordinator.canAttach('run1:prep')).toBe(false);
      expect(coordinator.canDetach()).toBe(false);
    });

    it('detaches an attached kernel', () => {
      const { coordinator, open } = setup();
      const { channel } = open();
      channel.deliver(snapshot([held()]));
      expect(coordinator.canAttach()).toBe(false);
      expect(coordinator.canDetach()).toBe(true);
      expect(coordinator.detach()).toBe(true);
      expect(channel.asked).toEqual(['amldebugDetach {}']);
    });

    it('sends on the comm when the kernel connection has no requestDebug', () => {
      const { coordinator, open } = setup();
      const { channel } = open();
      channel.control = false;
      channel.deliver(snapshot([waiting()]));
      expect(coordinator.attach()).toBe(true);
      expect(coordinator.detach()).toBe(true);
      expect(channel.sent).toEqual([
        { type: 'attach', target: 'run1:train' },
        { type: 'detach' }
      ]);
    });

    it("shows the kernel's one-line reason when it refuses", async () => {
      const { coordinator, notifier, open } = setup();
      const { channel } = open();
      channel.deliver(snapshot([waiting()]));
      coordinator.attach();
      channel.requests[0].reply({
        success: false,
        message: 'run1:train ended before a debugger attached.\nTraceback...',
        body: {}
      });
      coordinator.detach();
      channel.requests[1].reply({ success: true, body: { text: 'Detached.' } });
      await flush();
      expect(notifier.shown).toEqual([
        'warning: run1:train ended before a debugger attached. (closes 5000)'
      ]);
    });

    it('says once when the kernel does not answer in time', async () => {
      const { coordinator, notifier, waits, open } = setup();
      const { channel } = open();
      channel.deliver(snapshot([waiting()]));
      coordinator.attach();
      coordinator.attach();
      channel.requests[1].reply({ success: true, body: {} });
      await flush();
      expect(waits.map(w => w.ms)).toEqual([
        REQUEST_TIMEOUT_MS,
        REQUEST_TIMEOUT_MS
      ]);
      waits.forEach(w => w.release());
      await flush();
      expect(notifier.shown).toEqual([`warning: ${NO_ANSWER} (closes 5000)`]);
      channel.requests[0].reply({ success: true, body: {} }); // late
      await flush();
      expect(notifier.shown).toHaveLength(1);
    });

    it('warns when a request is lost with its kernel connection', async () => {
      const { coordinator, notifier, open } = setup();
      const { channel } = open();
      channel.deliver(snapshot([held()]));
      coordinator.detach();
      channel.requests[0].fail(new Error('Kernel is dead\nat ...'));
      await flush();
      expect(notifier.shown).toEqual([
        'warning: No answer from the kernel: Error: Kernel is dead (closes 5000)'
      ]);
    });

    it('warns when nothing waits or the kernel has no comm', () => {
      const { coordinator, notifier, open } = setup();
      const { channel } = open();
      channel.deliver(snapshot([]));
      expect(coordinator.attach()).toBe(false);
      channel.isOpen = false;
      expect(coordinator.canAttach('run1:train')).toBe(false);
      expect(coordinator.attach('run1:train')).toBe(false);
      expect(coordinator.detach()).toBe(false);
      expect(notifier.shown).toEqual([
        `warning: ${NOTHING_WAITING} (closes 5000)`,
        `warning: ${NOT_LOADED} (closes 5000)`,
        `warning: ${NOT_LOADED} (closes 5000)`
      ]);
      expect(channel.requests).toEqual([]);
    });

    it('does nothing without a notebook', () => {
      const { coordinator, notifier } = setup();
      expect(coordinator.currentChannel).toBeNull();
      expect(coordinator.canAttach()).toBe(false);
      expect(coordinator.attach()).toBe(false);
      expect(coordinator.detach()).toBe(false);
      expect(notifier.shown).toEqual([]);
    });

    it('opens the attached target script', async () => {
      const { coordinator, control, open } = setup();
      const { channel } = open();
      channel.deliver(
        snapshot(
          [
            waiting('run1:prep', { script: '/p/prep.py' }),
            held('run1:train', { script: '/p/train.py' })
          ],
          { home: '/home/u', cwd: '/p/sub' }
        )
      );
      expect(coordinator.scriptOf()).toBe('/p/train.py');
      expect(coordinator.scriptOf('run1:prep')).toBe('/p/prep.py');
      await coordinator.openScript();
      expect(control.calls).toEqual([
        'open /p/train.py:null home=/home/u cwd=/p/sub notebook=sub/a.ipynb'
      ]);
    });
  });

  describe('closing a notebook', () => {
    it('asks its attached kernel to detach while the connection still sends', async () => {
      const { notifier, open } = setup();
      const { channel, panel } = open();
      channel.deliver(snapshot([held()]));
      let connectionAlive: boolean | null = null;
      jest.spyOn(channel, 'requestDebug').mockImplementationOnce(() => {
        connectionAlive = !panel.sessionContext.session.kernel.isDisposed;
        return Promise.reject(new Error('Canceled future'));
      });
      const debug = jest
        .spyOn(console, 'debug')
        .mockImplementation(() => undefined);
      panel.sessionContext.close();
      await flush();
      expect(channel.requestDebug).toHaveBeenCalledWith('amldebugDetach', {});
      expect(connectionAlive).toBe(true);
      expect(channel.isDisposed).toBe(true);
      expect(notifier.shown).toEqual([]); // fire and forget
      expect(debug).toHaveBeenCalled();
      debug.mockRestore();
    });

    it('sends nothing when its kernel is not attached', () => {
      const { open } = setup();
      const { channel, panel } = open();
      channel.deliver(snapshot([waiting()]));
      panel.sessionContext.close();
      expect(channel.requests).toEqual([]);
      expect(channel.sent).toEqual([]);
    });
  });

  it('follows the current notebook and forgets closed ones', () => {
    const { coordinator, notebooks, open } = setup();
    let changes = 0;
    coordinator.changed.connect(() => changes++);
    const a = open('a.ipynb');
    const b = open('b.ipynb');
    expect(coordinator.currentChannel).toBe(b.channel);
    expect(coordinator.currentName).toBe('b.ipynb');
    expect(coordinator.channelForKernel(a.channel.kernel!.id)).toBe(a.channel);
    a.channel.deliver(snapshot([waiting()]));
    expect(changes).toBe(5); // two adds, two current changes, one snapshot

    notebooks.currentWidget = a.panel;
    notebooks.currentChanged.emit(a.panel);
    expect(coordinator.currentChannel).toBe(a.channel);

    a.panel.sessionContext.close();
    expect(a.channel.isDisposed).toBe(true);
    expect(coordinator.channelForKernel(a.channel.kernel!.id)).toBeNull();
  });
});
