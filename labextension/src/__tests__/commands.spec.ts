import { CommandRegistry } from '@lumino/commands';
import { Signal } from '@lumino/signaling';
import type { IKernelChannel } from '../channel';
import { CommandIDs, PALETTE_CATEGORY, addCommands } from '../commands';
import type { ITargetActions } from '../commands';
import { TargetListModel } from '../targets';
import { target } from './fixtures';

/** Records what the commands asked for; `attachable` / `detachable` set isEnabled. */
class FakeActions implements ITargetActions {
  constructor() {
    this.model.apply(
      { type: 'targets', targets: [target({ id: 'r:train', label: 'train' })] },
      0
    );
  }
  model = new TargetListModel();
  currentChannel = { model: this.model } as unknown as IKernelChannel;
  changed = new Signal<this, void>(this);
  calls: string[] = [];
  attachable = new Set<string | undefined>();
  detachable = false;
  script: string | null = null;
  canAttach(id?: string) {
    return this.attachable.has(id);
  }
  canDetach() {
    return this.detachable;
  }
  attach(id?: string) {
    this.calls.push(`attach ${id}`);
    return true;
  }
  detach() {
    this.calls.push('detach');
    return true;
  }
  scriptOf(id?: string) {
    return this.script;
  }
  async openScript(id?: string) {
    this.calls.push(`open ${id}`);
  }
}

function setup() {
  const commands = new CommandRegistry();
  const actions = new FakeActions();
  const palette: Array<{ command: string; category: string }> = [];
  const shown: string[] = [];
  const added = addCommands({
    commands,
    actions,
    showPanel: () => shown.push('panel'),
    palette: {
      addItem: item => {
        palette.push(item as { command: string; category: string });
        return { dispose: () => undefined, isDisposed: false };
      }
    }
  });
  return { commands, actions, palette, shown, added };
}

describe('commands', () => {
  it('attaches to a named target, or without one to the first waiting', async () => {
    const { commands, actions } = setup();
    await commands.execute(CommandIDs.attach, { target: 'r:train' });
    await commands.execute(CommandIDs.attach);
    expect(actions.calls).toEqual(['attach r:train', 'attach undefined']);
    expect(commands.label(CommandIDs.attach, { target: 'r:train' })).toBe(
      'Attach to train'
    );
    expect(commands.label(CommandIDs.attach)).toBe(
      'Attach to Waiting Debug Target'
    );
  });

  it('is enabled as the actions say', () => {
    const { commands, actions } = setup();
    expect(commands.isEnabled(CommandIDs.attach)).toBe(false);
    expect(commands.isEnabled(CommandIDs.detach)).toBe(false);
    expect(commands.isEnabled(CommandIDs.openScript)).toBe(false);
    actions.attachable.add(undefined);
    actions.detachable = true;
    actions.script = '/p/train.py';
    expect(commands.isEnabled(CommandIDs.attach)).toBe(true);
    expect(commands.isEnabled(CommandIDs.attach, { target: 'r:x' })).toBe(
      false
    );
    expect(commands.isEnabled(CommandIDs.detach)).toBe(true);
    expect(commands.isEnabled(CommandIDs.openScript)).toBe(true);
    expect(commands.isEnabled(CommandIDs.showPanel)).toBe(true);
  });

  it('detaches, shows the panel and opens scripts', async () => {
    const { commands, actions, shown } = setup();
    await commands.execute(CommandIDs.detach);
    await commands.execute(CommandIDs.openScript, { target: 'r:train' });
    await commands.execute(CommandIDs.showPanel);
    expect(actions.calls).toEqual(['detach', 'open r:train']);
    expect(shown).toEqual(['panel']);
  });

  it('tells menus to ask again when the targets change', () => {
    const { commands, actions, added } = setup();
    const told: string[] = [];
    commands.commandChanged.connect((_, change) => told.push(change.id ?? ''));
    actions.changed.emit();
    expect(told).toEqual([
      CommandIDs.attach,
      CommandIDs.detach,
      CommandIDs.openScript
    ]);
    added.dispose();
    told.length = 0;
    actions.changed.emit();
    expect(told).toEqual([]);
    expect(commands.hasCommand(CommandIDs.attach)).toBe(false);
  });

  it('puts every command in the palette with labels and captions', () => {
    const { commands, palette } = setup();
    expect(palette.map(p => p.command).sort()).toEqual(
      Object.values(CommandIDs).sort()
    );
    expect(new Set(palette.map(p => p.category))).toEqual(
      new Set([PALETTE_CATEGORY])
    );
    for (const id of Object.values(CommandIDs)) {
      expect(commands.label(id)).not.toBe('');
      expect(commands.caption(id)).not.toBe('');
    }
  });
});
