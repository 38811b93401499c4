/**
 * amldebug-jupyter: the JupyterLab / Notebook 7 side of `%aml_debug`.
 *
 * Every token is optional so the plugin loads in JupyterLab and Notebook 7
 * alike; features whose token is missing (e.g. no debugger) are left out.
 */
import { ILayoutRestorer } from '@jupyterlab/application';
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import type { ISessionContext } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { IDebugger, IDebuggerHandler } from '@jupyterlab/debugger';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IEditorTracker } from '@jupyterlab/fileeditor';
import { INotebookTracker } from '@jupyterlab/notebook';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { KernelChannel } from './channel';
import { DebuggerControl } from './debuggercontrol';
import { EditorBinder } from './editorbinder';
import { notifyProblem } from './notifications';
import type { KernelMessage } from './protocol';
import { SIDEBAR_ID, TargetsPanel } from './sidebar';

export const PLUGIN_ID = 'amldebug-jupyter:plugin';

const NOT_LOADED =
  'The kernel has no amldebug comm: run %load_ext amldebug_jupyter first.';

function activate(
  app: JupyterFrontEnd,
  notebooks: INotebookTracker | null,
  service: IDebugger | null,
  handler: IDebugger.IHandler | null,
  editors: IEditorTracker | null,
  docManager: IDocumentManager | null,
  restorer: ILayoutRestorer | null
): void {
  if (!notebooks) {
    return; // no notebooks in this app: nothing to talk to
  }
  const channels = new Map<ISessionContext, KernelChannel>();
  const control = new DebuggerControl({ app, service, handler, docManager });
  const binder =
    service && editors
      ? new EditorBinder({
          service,
          editors,
          targetsFor: kernelId => {
            for (const channel of channels.values()) {
              if (channel.kernel?.id === kernelId) {
                return channel.model;
              }
            }
            return null;
          },
          serverRoot: () => PageConfig.getOption('serverRoot')
        })
      : null;
  control.onChange = () => binder?.schedule();

  const sidebar = new TargetsPanel({
    attach: (channel, id) => {
      if (!channel.send({ type: 'attach', target: id })) {
        Notification.warning(NOT_LOADED, { autoClose: 5000 });
      }
    },
    detach: channel => {
      if (!channel.send({ type: 'detach' })) {
        Notification.warning(NOT_LOADED, { autoClose: 5000 });
      }
    }
  });
  app.shell.add(sidebar, 'left', { rank: 850 });
  restorer?.add(sidebar, SIDEBAR_ID);

  /** The panel to drive for a session (two views of one notebook share it). */
  const panelFor = (sc: ISessionContext): NotebookPanel | null => {
    const current = notebooks.currentWidget;
    if (current?.sessionContext === sc) {
      return current;
    }
    return notebooks.find(p => p.sessionContext === sc) ?? null;
  };

  /** When the kernel last reported a problem, per target (its text says more than ours). */
  const problemAt = new Map<string, number>();
  const KERNEL_REPORT_WAIT_MS = 1500;

  const reportFailure = (what: string, reason: unknown): void => {
    console.error(`amldebug: ${what}`, reason);
    Notification.error(`${what}: ${String(reason)}`.slice(0, 140), {
      autoClose: false
    });
  };

  const onMessage = async (
    channel: KernelChannel,
    sc: ISessionContext,
    message: KernelMessage
  ): Promise<void> => {
    const panel = panelFor(sc);
    switch (message.type) {
      case 'attached':
        if (!panel) {
          return;
        }
        if (!control.available) {
          Notification.warning(
            "Attached, but JupyterLab's debugger is not available here.",
            { autoClose: 8000 }
          );
          return;
        }
        try {
          await control.enable(panel);
        } catch (reason) {
          // An unreachable remote fails the debugger's start, and the kernel reports
          // why as a problem: show that one notification, not a second vaguer one.
          const since = Date.now();
          await new Promise(resolve =>
            setTimeout(resolve, KERNEL_REPORT_WAIT_MS)
          );
          if (
            (problemAt.get(message.target) ?? 0) >=
            since - KERNEL_REPORT_WAIT_MS
          ) {
            console.warn('amldebug: the debugger did not start', reason);
          } else {
            reportFailure('Could not turn the debugger on', reason);
          }
          return;
        }
        if (message.script) {
          try {
            await control.openScript(
              message.script,
              message.line,
              channel.model.home
            );
          } catch (reason) {
            reportFailure(`Could not open ${message.script}`, reason);
          }
        }
        return;
      case 'detached':
        if (panel) {
          try {
            await control.disable(panel);
          } catch (reason) {
            reportFailure('Could not turn the debugger off', reason);
          }
        }
        return;
      case 'problem':
        if (message.target !== null) {
          problemAt.set(message.target, Date.now());
        }
        notifyProblem(message);
        return;
      case 'targets':
        return; // the model already holds it; `changed` refreshes views
    }
  };

  const track = (panel: NotebookPanel): void => {
    const sc = panel.sessionContext;
    if (channels.has(sc)) {
      return;
    }
    const channel = new KernelChannel(sc);
    channels.set(sc, channel);
    channel.received.connect((_, message) => {
      void onMessage(channel, sc, message);
    });
    channel.changed.connect(() => binder?.schedule());
    sc.disposed.connect(() => {
      channel.dispose();
      channels.delete(sc);
      showCurrent();
    });
  };

  const showCurrent = (): void => {
    const current = notebooks.currentWidget;
    const channel = current ? channels.get(current.sessionContext) : undefined;
    sidebar.setChannel(channel ?? null, current?.title.label ?? '');
  };

  notebooks.forEach(track);
  notebooks.widgetAdded.connect((_, panel) => {
    track(panel);
    showCurrent();
  });
  notebooks.currentChanged.connect(showCurrent);
  showCurrent();
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
    ILayoutRestorer
  ],
  activate
};

export default plugin;
