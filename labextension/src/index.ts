/**
 * amldebug-jupyter: the JupyterLab / Notebook 7 side of `%aml_debug`.
 *
 * The plugin only wires tokens to the extension's classes: the
 * `AttachCoordinator` (coordinator.ts) does the work, the commands
 * (commands.ts) are the user's actions, and the settings (schema/plugin.json)
 * tune them. Every token is optional so the plugin loads in JupyterLab and
 * Notebook 7 alike; features whose token is missing (e.g. no debugger) are
 * left out.
 */
import { ILayoutRestorer } from '@jupyterlab/application';
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import {
  IDebugger,
  IDebuggerHandler,
  IDebuggerSources
} from '@jupyterlab/debugger';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IEditorTracker } from '@jupyterlab/fileeditor';
import { INotebookTracker } from '@jupyterlab/notebook';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { addCommands } from './commands';
import { AttachCoordinator } from './coordinator';
import { DebuggerControl } from './debuggercontrol';
import { EditorBinder } from './editorbinder';
import { amldebugIcon } from './icons';
import { labNotifier } from './notifications';
import { DEFAULT_SETTINGS, readSettings } from './settings';
import type { ISettings } from './settings';
import { SIDEBAR_ID, TargetsPanel } from './sidebar';
import { serverRootFrom } from './paths';

export const PLUGIN_ID = 'amldebug-jupyter:plugin';

/** The plugin's settings, the schema's defaults without a registry or when loading fails. */
async function loadSettings(
  registry: ISettingRegistry | null,
  onChange: (settings: ISettings) => void
): Promise<ISettings> {
  if (!registry) {
    return DEFAULT_SETTINGS;
  }
  try {
    const settings = await registry.load(PLUGIN_ID);
    settings.changed.connect(() => onChange(readSettings(settings.composite)));
    return readSettings(settings.composite);
  } catch (reason) {
    console.warn('amldebug: settings not loaded, using the defaults', reason);
    return DEFAULT_SETTINGS;
  }
}

async function activate(
  app: JupyterFrontEnd,
  notebooks: INotebookTracker | null,
  service: IDebugger | null,
  handler: IDebugger.IHandler | null,
  editors: IEditorTracker | null,
  docManager: IDocumentManager | null,
  restorer: ILayoutRestorer | null,
  registry: ISettingRegistry | null,
  palette: ICommandPalette | null,
  sources: IDebugger.ISources | null
): Promise<void> {
  if (!notebooks) {
    return; // no notebooks in this app: nothing to talk to
  }
  let coordinator: AttachCoordinator<NotebookPanel> | null = null;
  const settings = await loadSettings(registry, changed => {
    if (coordinator) {
      coordinator.settings = changed;
    }
  });

  const control = new DebuggerControl({ app, service, handler, docManager });
  coordinator = new AttachCoordinator<NotebookPanel>({
    notebooks,
    control,
    notifier: labNotifier,
    settings
  });
  const binder =
    service && editors
      ? new EditorBinder({
          service,
          editors,
          targetsFor: kernelId =>
            coordinator?.channelForKernel(kernelId)?.model ?? null,
          serverRoot: place => serverRootFrom(PageConfig.getOption, place),
          sources,
          shell: app.shell
        })
      : null;
  control.onChange = () => binder?.schedule();

  const sidebar = new TargetsPanel({ commands: app.commands });
  app.shell.add(sidebar, 'left', { rank: settings.sidebarRank });
  restorer?.add(sidebar, SIDEBAR_ID);

  addCommands({
    commands: app.commands,
    actions: coordinator,
    showPanel: () => app.shell.activateById(SIDEBAR_ID),
    palette,
    icon: amldebugIcon
  });

  const show = (current: AttachCoordinator<NotebookPanel>): void => {
    sidebar.setChannel(current.currentChannel, current.currentName);
    binder?.schedule();
  };
  coordinator.changed.connect(show);
  show(coordinator);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    "Azure ML debug targets panel; turns JupyterLab's debugger on for a notebook attached to a remote step.",
  autoStart: true,
  optional: [
    INotebookTracker,
    IDebugger,
    IDebuggerHandler,
    IEditorTracker,
    IDocumentManager,
    ILayoutRestorer,
    ISettingRegistry,
    ICommandPalette,
    IDebuggerSources
  ],
  activate
};

export default plugin;
