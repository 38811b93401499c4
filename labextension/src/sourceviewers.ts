/**
 * One tab per step script while debugging.
 *
 * What JupyterLab does (the source viewer plugin of
 * @jupyterlab/debugger-extension; `find` in lib/sources.js of
 * @jupyterlab/debugger): when the current frame changes, and when a
 * breakpoint of the list is clicked, it asks `IDebuggerSources.find` for the
 * open editors of the frame's `source.path`, reveals them and highlights the
 * frame's line (`EditorHandler.showCurrentLine`). Since 4.6, when `find`
 * returns nothing it opens a read-only viewer instead: a main-area widget
 * whose caption is that path, around an editor marked `data-jp-debugger`.
 * `find` looks only at its own viewers and at editors of the debugged
 * session's own path (the notebook, a console, or a file with a kernel of its
 * own) whose text hashes to the frame's path (the temporary file of a cell,
 * `getCodeId`): the editor we open on a step script is never found, so each
 * stop in it opened a second `train.py` tab.
 *
 * The fix: `find` also returns the file editors the EditorBinder bound to
 * that absolute path, so the debugger reveals and highlights ours and opens
 * no viewer; a viewer that opened before our editor was bound (the first stop
 * often comes while the script is still loading) is closed once it is.
 *
 * Only for `focus: true` (revealing a frame): the service's own
 * `getDebuggerState` calls `find` with `focus: false` to collect the *cells*
 * whose breakpoints it migrates, and would re-dump our script as a cell and
 * re-send its breakpoints late, undoing a "Remove All Breakpoints" that
 * crossed it.
 */
import type { IDebugger } from '@jupyterlab/debugger';

type FindParams = IDebugger.ISources.FindParams;

/**
 * Make `sources.find` also return `extra(params)`. The debugger's service and
 * its source viewer both call `find` on this one object. Returns the undo.
 */
export function alsoFind(
  sources: IDebugger.ISources,
  extra: (params: FindParams) => IDebugger.ISources.IEditor[]
): () => void {
  const find = sources.find;
  sources.find = params => {
    const found = find.call(sources, params);
    return params.focus ? [...found, ...extra(params)] : found;
  };
  return () => {
    sources.find = find;
  };
}

/** What `viewersOf` reads of a main-area widget. */
export interface IMainAreaWidget {
  readonly title: { readonly caption: string };
  readonly node: HTMLElement;
}

/** The debugger's read-only viewers of `path` (an absolute kernel path) among `widgets`. */
export function viewersOf<W extends IMainAreaWidget>(
  path: string,
  widgets: Iterable<W>
): W[] {
  return Array.from(widgets).filter(
    widget =>
      widget.title.caption === path &&
      widget.node.querySelector('[data-jp-debugger="true"]') !== null
  );
}
