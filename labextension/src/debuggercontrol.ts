/**
 * Turning JupyterLab's debugger on and off for a notebook without the user
 * clicking the bug icon, and opening a step script in a regular editor.
 *
 * JupyterLab has no command for the toggle (the toolbar button only works on
 * the focused widget). The sequence below is the one the debugger's own
 * handler uses: make the notebook's session the debugger's session, start it
 * (debugInfo -> initialize -> attach -> setBreakpoints ...), then let the
 * handler create the notebook gutters and press the button.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { Debugger } from '@jupyterlab/debugger';
import type { IDebugger } from '@jupyterlab/debugger';
import type { IDocumentManager } from '@jupyterlab/docmanager';
import type { IDocumentWidget } from '@jupyterlab/docregistry';
import type { FileEditor } from '@jupyterlab/fileeditor';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { Session } from '@jupyterlab/services';
import type { Widget } from '@lumino/widgets';
import { PageConfig } from '@jupyterlab/coreutils';
import { serverRootFrom, toServerPath } from './paths';
import type { IKernelPlace } from './paths';

type WidgetUpdater = {
  updateWidget(
    widget: NotebookPanel,
    connection: Session.ISessionConnection | null
  ): Promise<void>;
};

/** `Debugger.Handler` has `updateWidget`; the token type does not declare it. */
function canUpdateWidget(
  handler: IDebugger.IHandler | null
): handler is IDebugger.IHandler & WidgetUpdater {
  return (
    handler !== null &&
    'updateWidget' in handler &&
    typeof handler.updateWidget === 'function'
  );
}

function isFileEditorWidget(
  widget: Widget | undefined
): widget is IDocumentWidget<FileEditor> {
  if (!widget || !('content' in widget) || !('context' in widget)) {
    return false;
  }
  const content = widget.content;
  return typeof content === 'object' && content !== null && 'editor' in content;
}

/**
 * JupyterLab before 4.6 (whose debugger service has no `stopped` signal yet)
 * clears its model, and stops listening for frame changes, once the reply to
 * `continue` has been handled. A remote step that stops again at once (a
 * breakpoint in a loop) often has its `stopped` event handled first: that new
 * stop is wiped, leaving its frames without variables and the toolbar saying
 * "running". When a clear follows a stop with no `continued` in between, ask
 * the kernel again (debugInfo lists the stopped threads, and the frames are
 * fetched anew), select the top frame and refresh the toolbar's commands.
 */
function keepStopsAfterContinue(
  service: IDebugger,
  app: JupyterFrontEnd
): void {
  let stoppedThread: number | null = null;
  service.eventMessage.connect((_, event) => {
    const body = (event.body ?? {}) as { threadId?: number };
    if (event.event === 'stopped') {
      stoppedThread = body.threadId ?? null;
    } else if (event.event === 'continued') {
      stoppedThread = null;
    }
  });
  service.model.callstack.framesChanged.connect((_, frames) => {
    if (frames.length > 0) {
      return;
    }
    // After the service has passed on the event that cleared it, if any.
    setTimeout(() => {
      const thread = stoppedThread;
      if (
        thread !== null &&
        service.isStarted &&
        !service.model.stoppedThreads.has(thread)
      ) {
        stoppedThread = null;
        void service.restoreState(false).then(() => {
          // Select the top frame again: that fetches its scopes and variables.
          const callstack = service.model.callstack;
          callstack.frame = null;
          callstack.frame = callstack.frames[0] ?? null;
          app.commands.notifyCommandChanged(); // Continue, Next... enabled again
        });
      }
    }, 0);
  });
}

export interface IDebuggerControlOptions {
  app: JupyterFrontEnd;
  service: IDebugger | null;
  handler: IDebugger.IHandler | null;
  docManager: IDocumentManager | null;
}

export class DebuggerControl {
  constructor(options: IDebuggerControlOptions) {
    this._app = options.app;
    this._service = options.service;
    this._handler = options.handler;
    this._docManager = options.docManager;
    if (this._service && !('stopped' in this._service)) {
      keepStopsAfterContinue(this._service, this._app); // JupyterLab < 4.6
    }
  }

  get available(): boolean {
    return this._service !== null;
  }

  /** Emitted-to callback after the debugger state changed through us. */
  onChange: (() => void) | null = null;

  /** Start the debugger on `panel`'s kernel session. Resolves false if impossible. */
  async enable(panel: NotebookPanel): Promise<boolean> {
    const service = this._service;
    if (!service) {
      return false;
    }
    await panel.sessionContext.ready;
    const connection = panel.sessionContext.session;
    if (!connection?.kernel) {
      return false;
    }
    const handler = canUpdateWidget(this._handler) ? this._handler : null;
    if (handler) {
      await handler.updateWidget(panel, connection);
    }
    if (!service.session) {
      service.session = new Debugger.Session({
        connection,
        config: service.config
      });
    }
    // updateWidget puts the previous connection back when the debugger is off.
    service.session.connection = connection;
    await service.restoreState(true);
    if (handler) {
      // Now started: the handler adds cell gutters and presses the button.
      await handler.updateWidget(panel, connection);
    }
    this.onChange?.();
    return service.isStarted;
  }

  /** Stop the debugger if it is running on `panel`'s kernel. */
  async disable(panel: NotebookPanel): Promise<void> {
    const service = this._service;
    const kernelId = panel.sessionContext.session?.kernel?.id;
    if (
      !service?.session ||
      !kernelId ||
      service.session.connection?.kernel?.id !== kernelId ||
      !service.isStarted
    ) {
      return;
    }
    await service.stop(); // `stopped` removes the handler's gutters and button state
    this.onChange?.();
  }

  /**
   * Open an absolute kernel path in a regular file editor at `line`, or bring
   * the one already open on it to the front (`openOrReveal` finds it by path
   * and factory), so attach after attach keeps one tab per script.
   * Files outside the server root fall back to the debugger's read-only
   * source viewer, which reads the file through the kernel.
   */
  async openScript(
    absPath: string,
    line: number | null,
    place: IKernelPlace
  ): Promise<void> {
    const serverRoot = serverRootFrom(PageConfig.getOption, place);
    const serverPath = toServerPath(absPath, serverRoot, place.home);
    if (serverPath === null) {
      const command = 'debugger:open-source'; // JupyterLab >= 4.1
      if (this._app.commands.hasCommand(command)) {
        await this._app.commands.execute(command, { path: absPath });
      } else {
        console.warn(
          `amldebug: ${absPath} is outside the server root ${serverRoot}`
        );
      }
      return;
    }
    if (this._openedElsewhere.has(serverPath)) {
      return; // Notebook 7 opened it in a browser tab of its own: one is enough
    }
    const widget: Widget | undefined = this._docManager
      ? this._docManager.openOrReveal(serverPath, 'Editor')
      : await this._app.commands.execute('docmanager:open', {
          path: serverPath,
          factory: 'Editor'
        });
    if (!isFileEditorWidget(widget) || this._openedInAnotherTab(widget)) {
      // Notebook 7 opens a file in a new browser tab (its document opener
      // disposes the widget made here, or returns none); every later attach
      // would open one more.
      this._openedElsewhere.add(serverPath);
      return;
    }
    await widget.context.ready;
    this.onChange?.(); // let the editor binder add its gutter
    if (line !== null) {
      const position = { line: Math.max(0, line - 1), column: 0 };
      widget.content.editor.setCursorPosition(position);
      widget.content.editor.revealPosition(position);
    }
  }

  /** The editor is not in this page's main area (Notebook 7 showed it in a tab of its own). */
  private _openedInAnotherTab(widget: Widget): boolean {
    if (widget.isDisposed) {
      return true;
    }
    for (const shown of this._app.shell.widgets('main')) {
      if (shown === widget) {
        return false;
      }
    }
    return true;
  }

  private _app: JupyterFrontEnd;
  private _openedElsewhere = new Set<string>();
  private _service: IDebugger | null;
  private _handler: IDebugger.IHandler | null;
  private _docManager: IDocumentManager | null;
}
