import type { IDebugger } from '@jupyterlab/debugger';
import { alsoFind, viewersOf } from '../sourceviewers';

type Found = IDebugger.ISources.IEditor;

/** An editor as `find` returns it, named for the test. */
function found(name: string): Found {
  return {
    get: () => null,
    reveal: async () => undefined,
    src: { name } as unknown as Found['src']
  };
}

const params = (source: string): IDebugger.ISources.FindParams => ({
  focus: true,
  kernel: 'python3',
  path: 'sub/nb.ipynb',
  source
});

/** The debugger's Sources: finds only what it opened itself. */
class FakeSources implements IDebugger.ISources {
  own = new Map<string, Found>();
  find(p: IDebugger.ISources.FindParams): Found[] {
    const editor = this.own.get(p.source);
    return editor ? [editor] : [];
  }
  open(): void {
    // not used
  }
}

/** A main-area widget: a debugger viewer (caption + marked editor) or not. */
function widget(caption: string, marked: boolean) {
  const node = document.createElement('div');
  const content = document.createElement('div');
  if (marked) {
    content.setAttribute('data-jp-debugger', 'true');
  }
  node.appendChild(content);
  return { title: { caption }, node };
}

describe('alsoFind', () => {
  it('leaves the cells the service collects for its own state alone', () => {
    const sources = new FakeSources();
    alsoFind(sources, () => [found('ours')]);
    // getDebuggerState asks with focus: false; our script is no cell to re-dump.
    expect(sources.find({ ...params('/p/train.py'), focus: false })).toEqual(
      []
    );
    expect(sources.find(params('/p/train.py'))).toHaveLength(1);
  });

  it("adds our editors to the debugger's own, and undoes it", () => {
    const sources = new FakeSources();
    sources.own.set('/p/train.py', found('viewer'));
    const asked: string[] = [];
    const undo = alsoFind(sources, p => {
      asked.push(p.source);
      return p.source === '/p/train.py' ? [found('ours')] : [];
    });
    const names = (source: string) =>
      sources
        .find(params(source))
        .map(e => (e.src as unknown as { name: string }).name);
    expect(names('/p/train.py')).toEqual(['viewer', 'ours']);
    expect(names('/tmp/ipykernel_1/123.py')).toEqual([]);
    expect(asked).toEqual(['/p/train.py', '/tmp/ipykernel_1/123.py']);
    undo();
    expect(names('/p/train.py')).toEqual(['viewer']);
    expect(asked).toHaveLength(2);
  });
});

describe('viewersOf', () => {
  it("picks the debugger's read-only viewers of the path only", () => {
    const viewer = widget('/p/train.py', true);
    const other = widget('/p/score.py', true);
    // A notebook panel the debugger marked, and our own file editor.
    const notebook = widget('Name: nb.ipynb\nPath: sub/nb.ipynb', true);
    const editor = widget('Name: train.py\nPath: steps/train.py', false);
    const unmarked = widget('/p/train.py', false);
    expect(
      viewersOf('/p/train.py', [notebook, viewer, other, editor, unmarked])
    ).toEqual([viewer]);
    expect(viewersOf('/p/none.py', [viewer])).toEqual([]);
  });
});
