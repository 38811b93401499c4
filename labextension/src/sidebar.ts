/**
 * Side panel listing the current notebook kernel's debug targets, with a
 * countdown to each deadline and Attach / Detach buttons, which execute the
 * extension's commands.
 */
import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import type { IKernelChannel } from './channel';
import { CommandIDs } from './commands';
import { amldebugIcon } from './icons';
import { renderTargets } from './sidebarview';
import type { IRowActions } from './sidebarview';

export const SIDEBAR_ID = 'amldebug-targets';

export interface ITargetsPanelOptions {
  /** Where the buttons' commands run (`app.commands`). */
  commands: {
    execute(id: string, args?: { target?: string }): Promise<unknown>;
  };
}

export class TargetsPanel extends Widget {
  constructor(options: ITargetsPanelOptions) {
    super();
    this._commands = options.commands;
    this.id = SIDEBAR_ID;
    this.addClass('jp-amldebug-panel');
    this.title.icon = amldebugIcon;
    this.title.caption = 'Azure ML debug targets';

    this._header = document.createElement('div');
    this._header.className = 'jp-amldebug-header';
    this._body = document.createElement('div');
    this._body.className = 'jp-amldebug-body';
    this.node.append(this._header, this._body);
    this.update();
  }

  /** Show `channel`'s targets (the current notebook's), or nothing. */
  setChannel(channel: IKernelChannel | null, notebookName: string): void {
    if (this._channel === channel && this._name === notebookName) {
      return;
    }
    this._channel?.changed.disconnect(this._onChanged, this);
    this._channel = channel;
    this._name = notebookName;
    channel?.changed.connect(this._onChanged, this);
    this.update();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    // Countdowns tick once a second while the panel is in the DOM.
    this._timer = window.setInterval(() => this.update(), 1000);
  }

  protected onBeforeDetach(msg: Message): void {
    window.clearInterval(this._timer);
    super.onBeforeDetach(msg);
  }

  protected onUpdateRequest(msg: Message): void {
    const channel = this._channel;
    if (!channel) {
      this._header.textContent = 'Open a notebook to see its debug targets.';
      this._body.textContent = '';
      return;
    }
    this._header.textContent = this._name;
    const mismatch = channel.model.mismatch;
    if (mismatch !== null) {
      // Another protocol: its targets are not offered, the reason is.
      renderTargets(this._body, [], this._actions, mismatch);
      return;
    }
    const rows = channel.model.rows(Date.now() / 1000);
    const empty = channel.isOpen
      ? 'No debug targets yet.'
      : 'Run %load_ext amldebug_jupyter in this notebook.';
    renderTargets(this._body, rows, this._actions, empty);
  }

  dispose(): void {
    window.clearInterval(this._timer);
    this._channel?.changed.disconnect(this._onChanged, this);
    super.dispose();
  }

  /** The commands act on the current notebook, whose channel this panel shows. */
  private _actions: IRowActions = {
    attach: id => this._execute(CommandIDs.attach, { target: id }),
    detach: () => this._execute(CommandIDs.detach)
  };

  private _execute(id: string, args?: { target?: string }): void {
    this._commands.execute(id, args).catch(reason => {
      console.warn(`amldebug: ${id} failed`, reason);
    });
  }

  private _onChanged(): void {
    this.update();
  }

  private _commands: ITargetsPanelOptions['commands'];
  private _header: HTMLDivElement;
  private _body: HTMLDivElement;
  private _channel: IKernelChannel | null = null;
  private _name = '';
  private _timer = 0;
}
