/**
 * The extension's user actions as JupyterLab commands: the panel's buttons
 * execute them, and the command palette lists them (when there is one).
 */
import type { ICommandPalette } from '@jupyterlab/apputils';
import type { LabIcon } from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { DisposableDelegate, DisposableSet } from '@lumino/disposable';
import type { IDisposable } from '@lumino/disposable';
import type { ISignal } from '@lumino/signaling';
import type { IKernelChannel } from './channel';

export namespace CommandIDs {
  /** Attach the kernel's debugger to a target: `{ target?: string }`, default the first waiting one. */
  export const attach = 'amldebug:attach';
  /** Detach the kernel's debugger from its target. */
  export const detach = 'amldebug:detach';
  /** Show the debug targets panel. */
  export const showPanel = 'amldebug:show-panel';
  /** Open a target's script in a file editor: `{ target?: string }`, default the attached one. */
  export const openScript = 'amldebug:open-script';
}

/** The palette category of the commands. */
export const PALETTE_CATEGORY = 'Azure ML Debug';

/** What the commands act on (an `AttachCoordinator`). */
export interface ITargetActions {
  readonly currentChannel: IKernelChannel | null;
  readonly changed: ISignal<unknown, void>;
  canAttach(target?: string): boolean;
  canDetach(): boolean;
  attach(target?: string): boolean;
  detach(): boolean;
  scriptOf(target?: string): string | null;
  openScript(target?: string): Promise<void>;
}

export interface ICommandsOptions {
  commands: CommandRegistry;
  actions: ITargetActions;
  /** Bring the targets panel to the front. */
  showPanel: () => void;
  palette?: Pick<ICommandPalette, 'addItem'> | null;
  icon?: LabIcon;
}

const TARGET_ARGS = {
  type: 'object',
  properties: {
    target: {
      type: 'string',
      description:
        'Id of a debug target of the current notebook (default: see the command)'
    }
  }
};

function targetOf(args: ReadonlyPartialJSONObject): string | undefined {
  return typeof args.target === 'string' ? args.target : undefined;
}

/** Register the commands (and palette items); dispose to remove them. */
export function addCommands(options: ICommandsOptions): IDisposable {
  const { commands, actions, palette, icon } = options;
  const labelOf = (id: string): string =>
    actions.currentChannel?.model.targets.find(t => t.id === id)?.label ?? id;
  const added = new DisposableSet();

  added.add(
    commands.addCommand(CommandIDs.attach, {
      label: args => {
        const target = targetOf(args);
        return target === undefined
          ? 'Attach to Waiting Debug Target'
          : `Attach to ${labelOf(target)}`;
      },
      caption:
        "Attach the kernel's debugger to a remote Azure ML step that waits for one (without a target: the current notebook's first waiting step)",
      describedBy: { args: TARGET_ARGS },
      isEnabled: args => actions.canAttach(targetOf(args)),
      execute: args => {
        actions.attach(targetOf(args));
      }
    })
  );
  added.add(
    commands.addCommand(CommandIDs.detach, {
      label: 'Detach from Debug Target',
      caption:
        "Detach the current notebook kernel's debugger from the remote step (the step runs on)",
      isEnabled: () => actions.canDetach(),
      execute: () => {
        actions.detach();
      }
    })
  );
  added.add(
    commands.addCommand(CommandIDs.showPanel, {
      label: 'Show Azure ML Debug Targets',
      caption: "The current notebook's Azure ML debug targets",
      icon,
      execute: () => {
        options.showPanel();
      }
    })
  );
  added.add(
    commands.addCommand(CommandIDs.openScript, {
      label: 'Open Debug Target Script',
      caption:
        "Open a debug target's script in a file editor (without a target: the attached step's, else the first step's)",
      describedBy: { args: TARGET_ARGS },
      isEnabled: args => actions.scriptOf(targetOf(args)) !== null,
      execute: args => actions.openScript(targetOf(args))
    })
  );

  if (palette) {
    for (const command of [
      CommandIDs.attach,
      CommandIDs.detach,
      CommandIDs.openScript,
      CommandIDs.showPanel
    ]) {
      added.add(palette.addItem({ command, category: PALETTE_CATEGORY }));
    }
  }

  // Menus and the palette ask isEnabled again when told something changed.
  const notify = () => {
    for (const id of [
      CommandIDs.attach,
      CommandIDs.detach,
      CommandIDs.openScript
    ]) {
      commands.notifyCommandChanged(id);
    }
  };
  actions.changed.connect(notify);
  added.add(new DisposableDelegate(() => actions.changed.disconnect(notify)));
  return added;
}
