/**
 * `problem` messages become JupyterLab notifications: the kernel cannot raise
 * them itself. A short message in the toast, the full text behind "Details".
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import type { IProblemMessage } from './protocol';

/** Notification level per problem kind (deadline_soon is only a warning). */
export function problemLevel(
  kind: IProblemMessage['kind']
): 'error' | 'warning' {
  return kind === 'deadline_soon' ? 'warning' : 'error';
}

function detailsBody(details: string): Widget {
  const pre = document.createElement('pre');
  pre.className = 'jp-amldebug-details';
  pre.textContent = details;
  return new Widget({ node: pre });
}

export function notifyProblem(problem: IProblemMessage): string {
  const details = problem.details;
  const actions =
    details === null
      ? []
      : [
          {
            label: 'Details',
            caption: 'Show the full message',
            callback: () => {
              void showDialog({
                title: problem.message,
                body: detailsBody(details),
                buttons: [Dialog.okButton({ label: 'Close' })]
              });
            }
          }
        ];
  const options = {
    autoClose: problem.kind === 'deadline_soon' ? 10000 : (false as const),
    actions
  };
  return problemLevel(problem.kind) === 'warning'
    ? Notification.warning(problem.message, options)
    : Notification.error(problem.message, options);
}
