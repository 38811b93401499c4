/**
 * Breakpoint gutters on regular file editors of step scripts.
 *
 * JupyterLab only gives a file editor a debugger gutter when a kernel session
 * has the file's own path, and then keys its breakpoints by a hash of the
 * text (jupyterlab#9525, #10418). Here, while the debugger runs on a kernel
 * that announced targets, every open editor on a target's script or under its
 * local_root gets a `Debugger.EditorHandler` with the file's absolute path, so
 * `setBreakpoints` carries the path the remote maps. Handlers are rebuilt
 * whenever the debugger's session moves, and dropped when it stops.
 */
import { Debugger } from '@jupyterlab/debugger';
import type { IDebugger } from '@jupyterlab/debugger';
import type { IDocumentWidget } from '@jupyterlab/docregistry';
import type { FileEditor, IEditorTracker } from '@jupyterlab/fileeditor';
import type { IDisposable } from '@lumino/disposable';
import { breakpointPathFor } from './matching';
import type { TargetListModel } from './targets';

type EditorWidget = IDocumentWidget<FileEditor>;

export interface IEditorBinderOptions {
  service: IDebugger;
  editors: IEditorTracker;
  /** Targets announced by the kernel with this id, if any. */
  targetsFor: (kernelId: string) => TargetListModel | null;
  /** PageConfig serverRoot (may start with `~`). */
  serverRoot: () => string;
}

type BreakpointMap = Map<string, IDebugger.IBreakpoint[]>;

/** The private filter of `Debugger.Service` in older JupyterLab 4 releases. */
interface IFilteringService {
  _filterBreakpoints?: (all: BreakpointMap) => BreakpointMap;
}

interface IBinding {
  path: string;
  handler: Debugger.EditorHandler;
}

export class EditorBinder implements IDisposable {
  constructor(options: IEditorBinderOptions) {
    this._service = options.service;
    this._editors = options.editors;
    this._targetsFor = options.targetsFor;
    this._serverRoot = options.serverRoot;

    // No `stopped` signal: IDebugger has it only from JupyterLab 4.6. Every
    // 4.x `stop()` clears the model, which emits `breakpoints.restored`.
    const schedule = () => this.schedule();
    this._service.sessionChanged.connect(schedule);
    this._service.eventMessage.connect(schedule);
    this._service.model.breakpoints.restored.connect(schedule);
    this._service.model.callstack.currentFrameChanged.connect(
      this._showFrame,
      this
    );
    this._editors.widgetAdded.connect(schedule);
    const unkeep = this._keepBoundBreakpoints();
    this._disconnect = () => {
      unkeep();
      this._service.sessionChanged.disconnect(schedule);
      this._service.eventMessage.disconnect(schedule);
      this._service.model.breakpoints.restored.disconnect(schedule);
      this._editors.widgetAdded.disconnect(schedule);
      this._service.model.callstack.currentFrameChanged.disconnect(
        this._showFrame,
        this
      );
    };
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Coalesce bursts of signals into one refresh. */
  schedule(): void {
    if (this._scheduled || this._isDisposed) {
      return;
    }
    this._scheduled = true;
    setTimeout(() => {
      this._scheduled = false;
      this.refresh();
    }, 0);
  }

  /** Bring handlers in line with the debugger's current session and targets. */
  refresh(): void {
    if (this._isDisposed) {
      return;
    }
    const session = this._service.session;
    const kernelId = session?.connection?.kernel?.id ?? null;
    const key =
      this._service.isStarted && kernelId
        ? `${session?.connection?.id}/${kernelId}`
        : null;
    if (key !== this._key) {
      this._unbindAll(); // handlers ignore clicks once the session moved
      this._key = key;
    }
    const model = key && kernelId ? this._targetsFor(kernelId) : null;
    if (!model || model.targets.length === 0) {
      this._unbindAll();
      return;
    }
    const serverRoot = this._serverRoot();
    this._editors.forEach(widget => {
      this._watch(widget);
      if (!widget.context.isReady) {
        return; // bound once loaded (see _watch)
      }
      const path = breakpointPathFor(
        widget.context.path,
        model.targets,
        serverRoot,
        model.home
      );
      const current = this._bindings.get(widget);
      if (current && current.path === path) {
        return;
      }
      this._unbind(widget);
      if (path !== null) {
        this._bindings.set(widget, {
          path,
          handler: new Debugger.EditorHandler({
            debuggerService: this._service,
            editorReady: async () => {
              await widget.context.ready;
              return widget.content.editor;
            },
            getEditor: () => widget.content.editor,
            path,
            src: widget.content.model.sharedModel
          })
        });
      }
    });
  }

  /** Absolute paths currently carrying a gutter (for diagnostics and tests). */
  get boundPaths(): string[] {
    return Array.from(this._bindings.values(), b => b.path);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._disconnect();
    this._unbindAll();
  }

  /**
   * Keep the kernel's breakpoints in our files in the debugger's list.
   *
   * Older JupyterLab 4 releases (4.0.2 here; 4.5 no longer does) drop, each
   * time the debugger reloads the kernel's breakpoints (at stops, at gutter
   * clicks), those in files it has no viewer of, such as our editors: the
   * list and gutter went empty while the step still stopped there, and
   * Remove All Breakpoints had nothing to remove. Returns the undo.
   */
  private _keepBoundBreakpoints(): () => void {
    const service = this._service as unknown as IFilteringService;
    const filter = service._filterBreakpoints;
    if (typeof filter !== 'function') {
      return () => undefined;
    }
    service._filterBreakpoints = all => {
      const kept = filter.call(service, all);
      const bound = new Set(this.boundPaths);
      for (const [path, breakpoints] of all) {
        if (bound.has(path) && breakpoints.length > 0) {
          kept.set(path, breakpoints);
        }
      }
      return kept;
    };
    return () => {
      service._filterBreakpoints = filter;
    };
  }

  /** Highlight the paused line in our editors (the debugger only does it in its viewer). */
  private _showFrame(_: unknown, frame: IDebugger.IStackFrame | null): void {
    for (const [widget, binding] of this._bindings) {
      const editor = widget.content.editor;
      Debugger.EditorHandler.clearHighlight(editor);
      if (frame?.source?.path === binding.path) {
        Debugger.EditorHandler.showCurrentLine(editor, frame.line);
      }
    }
  }

  /**
   * Bind once loaded, rebind on rename, drop on close (once per widget).
   *
   * A handler re-sends its gutter's breakpoints a second after its text last
   * changed. Bound before the file loaded, it counts the load as an edit and
   * re-sends a second later, and a "Remove All Breakpoints" that crosses that
   * send (which first fetches the kernel's breakpoints) is undone.
   */
  private _watch(widget: EditorWidget): void {
    if (this._watched.has(widget)) {
      return;
    }
    this._watched.add(widget);
    void widget.context.ready.then(() => this.schedule());
    widget.context.pathChanged.connect(() => this.schedule());
    widget.disposed.connect(() => this._unbind(widget));
  }

  private _unbind(widget: EditorWidget): void {
    const binding = this._bindings.get(widget);
    if (binding) {
      binding.handler.dispose();
      this._bindings.delete(widget);
    }
  }

  private _unbindAll(): void {
    for (const widget of Array.from(this._bindings.keys())) {
      this._unbind(widget);
    }
  }

  private _service: IDebugger;
  private _editors: IEditorTracker;
  private _targetsFor: (kernelId: string) => TargetListModel | null;
  private _serverRoot: () => string;
  private _bindings = new Map<EditorWidget, IBinding>();
  private _watched = new WeakSet<EditorWidget>();
  private _key: string | null = null;
  private _scheduled = false;
  private _isDisposed = false;
  private _disconnect: () => void;
}
