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
 *
 * The debugger finds these editors too (sourceviewers.ts): a stop in a step
 * script is shown in our editor, not in a second, read-only tab.
 */
import { Debugger } from '@jupyterlab/debugger';
import type { IDebugger } from '@jupyterlab/debugger';
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { IDocumentWidget } from '@jupyterlab/docregistry';
import type { FileEditor, IEditorTracker } from '@jupyterlab/fileeditor';
import type { IDisposable } from '@lumino/disposable';
import { breakpointPathFor } from './matching';
import type { IKernelPlace } from './paths';
import { alsoFind, viewersOf } from './sourceviewers';
import type { TargetListModel } from './targets';

type EditorWidget = IDocumentWidget<FileEditor>;

export interface IEditorBinderOptions {
  service: IDebugger;
  editors: IEditorTracker;
  /** Targets announced by the kernel with this id, if any. */
  targetsFor: (kernelId: string) => TargetListModel | null;
  /** The server root (may start with `~`) for a kernel's paths. */
  serverRoot: (place: IKernelPlace) => string;
  /** The debugger's source finder, which then finds our editors too. */
  sources: IDebugger.ISources | null;
  /** To bring our editors to the front, and find the debugger's viewers. */
  shell: Pick<JupyterFrontEnd.IShell, 'activateById' | 'widgets'>;
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
    this._shell = options.shell;

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
    const unfind = options.sources
      ? alsoFind(options.sources, params => this._found(params.source))
      : () => undefined;
    this._disconnect = () => {
      unkeep();
      unfind();
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
    const serverRoot = this._serverRoot({
      home: model.home,
      cwd: model.cwd,
      notebookPath: session?.connection?.path || null
    });
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
        this._bind(widget, path);
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

  /**
   * Give `widget` a gutter for `path`, and close the debugger's read-only
   * viewers of `path` that opened before: from now on it finds `widget`.
   */
  private _bind(widget: EditorWidget, path: string): void {
    const ready = widget.context.ready.then(() => widget.content.editor);
    this._bindings.set(widget, {
      path,
      handler: new Debugger.EditorHandler({
        debuggerService: this._service,
        editorReady: () => ready,
        getEditor: () => widget.content.editor,
        path,
        src: widget.content.model.sharedModel
      })
    });
    // The handler adds its highlight to the editor once `ready` resolves (its
    // own callback, registered first), and highlights only at the *next*
    // frame change: show the frame we are stopped at now, after that.
    void ready.then(() => {
      if (this._bindings.get(widget)?.path === path) {
        this._showFrame(null, this._service.model.callstack.frame);
      }
    });
    const viewers = viewersOf(path, this._shell.widgets('main'));
    if (viewers.length > 0) {
      viewers.forEach(viewer => viewer.dispose());
      this._shell.activateById(widget.id);
    }
  }

  /** Our editors of `path`, as the debugger's source finder returns editors. */
  private _found(path: string): IDebugger.ISources.IEditor[] {
    return Array.from(this._bindings)
      .filter(([, binding]) => binding.path === path)
      .map(([widget]) => ({
        get: () => widget.content.editor,
        reveal: async () => this._shell.activateById(widget.id),
        src: widget.content.model.sharedModel
      }));
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
  private _serverRoot: (place: IKernelPlace) => string;
  private _shell: IEditorBinderOptions['shell'];
  private _bindings = new Map<EditorWidget, IBinding>();
  private _watched = new WeakSet<EditorWidget>();
  private _key: string | null = null;
  private _scheduled = false;
  private _isDisposed = false;
  private _disconnect: () => void;
}
