/**
 * Notifications through JupyterLab's `Notification`: `problem` messages (the
 * kernel cannot raise them itself), with a short message in the toast and
 * the full text behind "Details", and the extension's own warnings and errors.
 * A toast shows at most 140 characters: a longer message is behind "Details"
 * too.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import type { AttachCoordinator } from './coordinator';
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

/** What JupyterLab's toasts show of a message. */
const TOAST_LENGTH = 140;

/** A "Details" button for `details`, or none; long messages are their own details. */
function detailsActions(
  message: string,
  details: string | null
): Notification.IAction[] {
  const text = details ?? (message.length > TOAST_LENGTH ? message : null);
  if (text === null) {
    return [];
  }
  return [
    {
      label: 'Details',
      caption: 'Show the full message',
      callback: () => {
        void showDialog({
          title:
            message.length > TOAST_LENGTH
              ? `${message.slice(0, TOAST_LENGTH - 1)}…`
              : message,
          body: detailsBody(text),
          buttons: [Dialog.okButton({ label: 'Close' })]
        });
      }
    }
  ];
}

export function notifyProblem(
  problem: IProblemMessage,
  deadlineSoonAutoClose: number | false = 10000
): string {
  const actions = detailsActions(problem.message, problem.details);
  const options = {
    autoClose:
      problem.kind === 'deadline_soon'
        ? deadlineSoonAutoClose
        : (false as const),
    actions
  };
  return problemLevel(problem.kind) === 'warning'
    ? Notification.warning(problem.message, options)
    : Notification.error(problem.message, options);
}

/** The coordinator's notifications, as JupyterLab toasts. */
export const labNotifier: AttachCoordinator.INotifier = {
  problem: (problem, options) => {
    notifyProblem(problem, options.deadlineSoonAutoClose);
  },
  warning: (message, autoClose) => {
    Notification.warning(message, { autoClose });
  },
  error: message => {
    Notification.error(message, {
      autoClose: false,
      actions: detailsActions(message, null)
    });
  }
};
