import { Signal } from '@lumino/signaling';
import { KernelChannel } from '../channel';
import type { IKernelSource, KernelLike } from '../channel';
import { PROTOCOL_VERSION } from '../protocol';
import { target } from './fixtures';

type Data = Record<string, unknown>;

/** A comm that records what was sent; `reply` plays the kernel. */
class FakeComm {
  constructor(readonly commId: string) {}
  opened: Data[] = [];
  sent: Data[] = [];
  isDisposed = false;
  onMsg: ((msg: { content: { data: unknown } }) => void) | null = null;
  onClose: (() => void) | null = null;
  open(data: Data) {
    this.opened.push(data);
    return { done: Promise.resolve() };
  }
  send(data: Data) {
    this.sent.push(data);
    return { done: Promise.resolve() };
  }
  reply(data: unknown) {
    this.onMsg?.({ content: { data } });
  }
  close() {
    this.isDisposed = true;
    this.onClose?.();
  }
}

type Opener = (comm: FakeComm, msg: { content: { data: unknown } }) => void;

class FakeKernel {
  constructor(readonly id: string) {}
  targets = new Map<string, Opener>();
  comms: FakeComm[] = [];
  statusChanged = new Signal<this, string>(this);
  registerCommTarget(name: string, cb: Opener) {
    this.targets.set(name, cb);
  }
  removeCommTarget(name: string, cb: Opener) {
    if (this.targets.get(name) === cb) {
      this.targets.delete(name);
    }
  }
  createComm(name: string) {
    const comm = new FakeComm(`${this.id}-c${this.comms.length}`);
    this.comms.push(comm);
    return comm;
  }
  /** The kernel opening a comm on its own (as %load_ext does). */
  openFromKernel(data: unknown): FakeComm {
    const comm = new FakeComm(`${this.id}-k`);
    this.targets.get('amldebug')?.(comm, { content: { data } });
    return comm;
  }
}

class FakeSource {
  kernelChanged = new Signal<
    this,
    { newValue: KernelLike | null; oldValue: KernelLike | null }
  >(this);
  session: { kernel: KernelLike | null } | null = null;
  setKernel(kernel: FakeKernel | null) {
    const oldValue = this.session?.kernel ?? null;
    const newValue = kernel as unknown as KernelLike | null;
    this.session = { kernel: newValue };
    this.kernelChanged.emit({ newValue, oldValue });
  }
}

function setup(kernel: FakeKernel | null = new FakeKernel('k1')) {
  const source = new FakeSource();
  if (kernel) {
    source.session = { kernel: kernel as unknown as KernelLike };
  }
  const channel = new KernelChannel(
    source as unknown as IKernelSource,
    () => 1000
  );
  const changes: number[] = [];
  channel.changed.connect(() => changes.push(channel.model.targets.length));
  const received: string[] = [];
  channel.received.connect((_, m) => received.push(m.type));
  return { source, channel, changes, received };
}

const snapshot = {
  type: 'targets',
  targets: [target()],
  protocol: PROTOCOL_VERSION
};

type DebugContent = { seq: number; command: string; arguments: unknown };

/** A kernel that answers debug requests on the control channel with `answer`. */
class ControlKernel extends FakeKernel {
  requests: DebugContent[] = [];
  answer: (content: DebugContent) => Promise<unknown> = async () => ({
    content: { success: true, body: { text: 'ok' } }
  });
  requestDebug(content: DebugContent) {
    this.requests.push(content);
    return { done: this.answer(content) };
  }
}

describe('KernelChannel', () => {
  it('registers the target and says hello on connect', () => {
    const kernel = new FakeKernel('k1');
    const { channel } = setup(kernel);
    expect(kernel.targets.has('amldebug')).toBe(true);
    expect(kernel.comms).toHaveLength(1);
    expect(kernel.comms[0].opened).toEqual([
      { type: 'hello', protocol: PROTOCOL_VERSION }
    ]);
    expect(channel.isOpen).toBe(true);
  });

  it('handles a snapshot on the hello comm', () => {
    const kernel = new FakeKernel('k1');
    const { channel, changes, received } = setup(kernel);
    kernel.comms[0].reply(snapshot);
    expect(channel.model.targets.map(t => t.id)).toEqual(['run1/train']);
    expect(changes).toEqual([1]);
    expect(received).toEqual(['targets']);
  });

  it('handles a kernel-opened comm the same way and sends on it', () => {
    const kernel = new FakeKernel('k1');
    const { channel, received } = setup(kernel);
    kernel.comms[0].close(); // extension not loaded yet: hello closed
    expect(channel.isOpen).toBe(false);
    expect(channel.send({ type: 'detach' })).toBe(false);
    const comm = kernel.openFromKernel(snapshot);
    expect(received).toEqual(['targets']);
    // hello on it: the kernel answers with a fresh snapshot (nothing it sent meanwhile is lost)
    expect(comm.sent).toEqual([{ type: 'hello', protocol: PROTOCOL_VERSION }]);
    comm.sent = [];
    comm.reply({
      type: 'attached',
      target: 'run1/train',
      script: null,
      line: null
    });
    expect(channel.model.targets[0].state).toBe('attached');
    expect(channel.send({ type: 'attach', target: 'run1/train' })).toBe(true);
    expect(comm.sent).toEqual([{ type: 'attach', target: 'run1/train' }]);
  });

  it('keeps only the newest comm open so broadcasts are not handled twice', () => {
    const kernel = new FakeKernel('k1');
    const { channel, received } = setup(kernel);
    const hello = kernel.comms[0];
    const first = kernel.openFromKernel(snapshot);
    expect(hello.isDisposed).toBe(true);
    const second = kernel.openFromKernel(snapshot);
    expect(first.isDisposed).toBe(true);
    expect(second.isDisposed).toBe(false);
    expect(channel.isOpen).toBe(true);
    expect(received).toEqual(['targets', 'targets']);
    channel.send({ type: 'detach' });
    const greeting = { type: 'hello', protocol: PROTOCOL_VERSION };
    expect(first.sent).toEqual([greeting]);
    expect(second.sent).toEqual([greeting, { type: 'detach' }]);
  });

  it('ignores invalid messages and refuses to send invalid ones', () => {
    const kernel = new FakeKernel('k1');
    const { channel, received } = setup(kernel);
    const warn = jest
      .spyOn(console, 'warn')
      .mockImplementation(() => undefined);
    const error = jest
      .spyOn(console, 'error')
      .mockImplementation(() => undefined);
    kernel.comms[0].reply({ type: 'targets' });
    expect(received).toEqual([]);
    expect(warn).toHaveBeenCalled();
    expect(channel.send({ type: 'attach' } as never)).toBe(false);
    expect(kernel.comms[0].sent).toEqual([]);
    warn.mockRestore();
    error.mockRestore();
  });

  it('keeps the protocol of a snapshot it cannot read', () => {
    const kernel = new FakeKernel('k1');
    const { channel, changes, received } = setup(kernel);
    kernel.comms[0].reply({ type: 'targets', targets: 'new', protocol: 99 });
    expect(received).toEqual(['targets']);
    expect(changes).toEqual([0]);
    expect(channel.model.kernelProtocol).toBe(99);
    expect(channel.model.mismatch).not.toBeNull();
    kernel.statusChanged.emit('restarting'); // the mismatch goes with the kernel
    expect(channel.model.mismatch).toBeNull();
    expect(changes).toEqual([0, 0]);
  });

  it('reads a protocol-1 snapshot as a mismatch, not as targets', () => {
    const kernel = new FakeKernel('k1');
    const { channel, received } = setup(kernel);
    const warn = jest
      .spyOn(console, 'warn')
      .mockImplementation(() => undefined);
    const { id, label, address, deadline, script } = target();
    kernel.comms[0].reply({
      type: 'targets',
      targets: [
        { id, label, state: 'done', address, deadline, script },
        { id: 'b', label, state: 'waiting', address, deadline, script }
      ]
    });
    expect(received).toEqual(['targets']);
    expect(channel.model.targets).toEqual([]);
    expect(channel.model.kernelProtocol).toBe(1);
    expect(channel.model.mismatch).toContain('speaks comm protocol 1,');
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
  });

  it('starts over after a restart: clears targets, says hello again once idle', () => {
    const kernel = new FakeKernel('k1');
    const { channel, changes } = setup(kernel);
    kernel.comms[0].reply(snapshot);
    kernel.statusChanged.emit('restarting');
    expect(channel.model.targets).toEqual([]);
    expect(changes).toEqual([1, 0]);
    expect(channel.isOpen).toBe(false);
    kernel.statusChanged.emit('starting');
    expect(kernel.comms).toHaveLength(1);
    kernel.statusChanged.emit('idle');
    expect(kernel.comms).toHaveLength(2);
    expect(kernel.comms[1].opened).toEqual([
      { type: 'hello', protocol: PROTOCOL_VERSION }
    ]);
    kernel.statusChanged.emit('idle');
    expect(kernel.comms).toHaveLength(2);
    expect(kernel.targets.has('amldebug')).toBe(true);
  });

  it('moves to a new kernel on kernel change and leaves the old one', () => {
    const first = new FakeKernel('k1');
    const { source, channel } = setup(first);
    first.comms[0].reply(snapshot);
    const second = new FakeKernel('k2');
    source.setKernel(second);
    expect(first.targets.has('amldebug')).toBe(false);
    expect(second.targets.has('amldebug')).toBe(true);
    expect(second.comms[0].opened).toEqual([
      { type: 'hello', protocol: PROTOCOL_VERSION }
    ]);
    expect(channel.model.targets).toEqual([]);
    expect(channel.kernel?.id).toBe('k2');
  });

  it('waits for a kernel when the session has none yet', () => {
    const { source, channel } = setup(null);
    expect(channel.kernel).toBeNull();
    const kernel = new FakeKernel('k3');
    source.setKernel(kernel);
    expect(kernel.comms).toHaveLength(1);
  });

  it('sends debug requests on the control channel and gives their replies', async () => {
    const kernel = new ControlKernel('k1');
    const { channel } = setup(kernel);
    const attach = channel.requestDebug('amldebugAttach', { target: 'r/t' });
    await expect(attach).resolves.toEqual({
      success: true,
      body: { text: 'ok' }
    });
    kernel.answer = async () => ({
      content: { success: false, message: 'It ended.', body: {} }
    });
    await expect(channel.requestDebug('amldebugDetach', {})).resolves.toEqual({
      success: false,
      message: 'It ended.',
      body: {}
    });
    expect(kernel.requests).toEqual([
      {
        seq: 1,
        type: 'request',
        command: 'amldebugAttach',
        arguments: { target: 'r/t' }
      },
      { seq: 2, type: 'request', command: 'amldebugDetach', arguments: {} }
    ]);
    expect(kernel.comms[0].sent).toEqual([]); // not on the comm
  });

  it('rejects a debug request the kernel connection cannot send', async () => {
    const kernel = new ControlKernel('k1');
    kernel.requestDebug = () => {
      throw new Error('Kernel is dead');
    };
    const { channel } = setup(kernel);
    await expect(channel.requestDebug('amldebugDetach', {})).rejects.toThrow(
      'Kernel is dead'
    );
  });

  it('has no debug requests without a kernel or its requestDebug', () => {
    expect(setup().channel.requestDebug('amldebugDetach', {})).toBeNull();
    expect(setup(null).channel.requestDebug('amldebugDetach', {})).toBeNull();
  });

  it('unregisters on dispose', () => {
    const kernel = new FakeKernel('k1');
    const { channel } = setup(kernel);
    channel.dispose();
    expect(kernel.targets.has('amldebug')).toBe(false);
    expect(channel.isDisposed).toBe(true);
  });
});
