import {
  expandServerRoot,
  guessHome,
  isUnder,
  normalizePath,
  rootFromCwd,
  serverRootFrom,
  toAbsolutePath,
  toServerPath
} from '../paths';

describe('normalizePath', () => {
  it.each([
    ['/a/b/', '/a/b'],
    ['/a//b///c', '/a/b/c'],
    ['/', '/'],
    ['//', '/'],
    ['a/b/', 'a/b']
  ])('%s -> %s', (input, output) => {
    expect(normalizePath(input)).toBe(output);
  });
});

describe('isUnder', () => {
  it('matches the root itself and children, not siblings with a common prefix', () => {
    expect(isUnder('/srv/proj', '/srv/proj/')).toBe(true);
    expect(isUnder('/srv/proj/a.py', '/srv/proj')).toBe(true);
    expect(isUnder('/srv/project/a.py', '/srv/proj')).toBe(false);
    expect(isUnder('/anything', '/')).toBe(true);
  });
});

describe('guessHome', () => {
  it.each([
    ['/home/azureuser/proj/x.py', '/home/azureuser'],
    ['/root/x.py', '/root'],
    ['/root', '/root'],
    ['/Users/ana/x.py', '/Users/ana'],
    ['/rootless/x.py', null],
    ['/srv/x.py', null]
  ])('%s -> %s', (path, home) => {
    expect(guessHome(path)).toBe(home);
  });
});

describe('expandServerRoot', () => {
  it('expands ~ with a known home and strips trailing slashes', () => {
    expect(expandServerRoot('~', '/home/u')).toBe('/home/u');
    expect(expandServerRoot('~/work/', '/home/u/')).toBe('/home/u/work');
    expect(expandServerRoot('/srv/notebooks/', null)).toBe('/srv/notebooks');
    expect(expandServerRoot('/', null)).toBe('/');
  });

  it('gives null for ~ without home and for non-absolute roots', () => {
    expect(expandServerRoot('~/work', null)).toBeNull();
    expect(expandServerRoot('C:/Users/u', null)).toBeNull();
    expect(expandServerRoot('~other/x', '/home/u')).toBeNull();
  });
});

describe('toServerPath', () => {
  it('maps under an absolute root', () => {
    expect(toServerPath('/srv/nb/steps/train.py', '/srv/nb')).toBe(
      'steps/train.py'
    );
    expect(toServerPath('/srv/nb/steps/train.py', '/srv/nb/')).toBe(
      'steps/train.py'
    );
    expect(toServerPath('/srv/nb//steps/train.py', '/srv/nb')).toBe(
      'steps/train.py'
    );
    expect(toServerPath('/etc/x.py', '/')).toBe('etc/x.py');
  });

  it('maps under ~ using the kernel home or a guessed one', () => {
    expect(
      toServerPath('/home/azureuser/proj/a.py', '~', '/home/azureuser')
    ).toBe('proj/a.py');
    expect(toServerPath('/home/azureuser/proj/a.py', '~/proj', null)).toBe(
      'a.py'
    );
    expect(toServerPath('/data/u/proj/a.py', '~/proj', '/data/u')).toBe('a.py');
  });

  it('gives null outside the root or when ~ cannot be expanded', () => {
    expect(toServerPath('/srv/other/a.py', '/srv/nb')).toBeNull();
    expect(toServerPath('/srv/nbx/a.py', '/srv/nb')).toBeNull();
    expect(toServerPath('/data/u/proj/a.py', '~/proj', null)).toBeNull();
    expect(toServerPath('/home/bob/a.py', '~', '/home/ann')).toBeNull();
    expect(toServerPath('relative/a.py', '/srv')).toBeNull();
  });

  it('maps the root itself to the empty path', () => {
    expect(toServerPath('/srv/nb/', '/srv/nb')).toBe('');
  });
});

describe('toAbsolutePath', () => {
  it('inverts toServerPath', () => {
    for (const [abs, root, home] of [
      ['/srv/nb/steps/train.py', '/srv/nb/', null],
      ['/home/u/p/a.py', '~/p', '/home/u'],
      ['/etc/x.py', '/', null]
    ] as const) {
      const rel = toServerPath(abs, root, home);
      expect(rel).not.toBeNull();
      expect(toAbsolutePath(rel as string, root, home)).toBe(abs);
    }
  });

  it('handles leading and trailing slashes in the relative path', () => {
    expect(toAbsolutePath('/steps/', '/srv/nb', null)).toBe('/srv/nb/steps');
    expect(toAbsolutePath('', '/srv/nb', null)).toBe('/srv/nb');
  });

  it('gives null for ~ without a home', () => {
    expect(toAbsolutePath('a.py', '~/p', null)).toBeNull();
  });
});

describe('rootFromCwd', () => {
  it.each([
    ['/home/u/work/sub/dir', 'sub/dir/nb.ipynb', '/home/u/work'],
    ['/home/u/work/sub/dir/', 'sub/dir/nb.ipynb', '/home/u/work'],
    ['/home/u/work', 'nb.ipynb', '/home/u/work'],
    ['/home/u/work', '/nb.ipynb', '/home/u/work'],
    ['/sub', 'sub/nb.ipynb', '/'],
    ['/', 'nb.ipynb', '/']
  ])('cwd %s, notebook %s -> %s', (cwd, notebook, root) => {
    expect(rootFromCwd(cwd, notebook)).toBe(root);
  });

  it('is empty when the cwd is not the notebook directory, or unknown', () => {
    expect(rootFromCwd('/home/u/elsewhere', 'sub/nb.ipynb')).toBe('');
    expect(rootFromCwd('/home/u/xsub', 'sub/nb.ipynb')).toBe('');
    expect(rootFromCwd(null, 'nb.ipynb')).toBe('');
    expect(rootFromCwd('relative/dir', 'nb.ipynb')).toBe('');
    expect(rootFromCwd('/home/u', null)).toBe('');
    expect(rootFromCwd('/home/u', '')).toBe('');
  });
});

describe('serverRootFrom', () => {
  const options =
    (values: Record<string, string>) =>
    (name: string): string =>
      values[name] ?? '';
  const nowhere = { cwd: null, notebookPath: null };
  const kernel = { cwd: '/srv/work/sub', notebookPath: 'sub/nb.ipynb' };
  it("takes JupyterLab's serverRoot", () => {
    expect(
      serverRootFrom(options({ serverRoot: '~/work', rootUri: 'x' }), kernel)
    ).toBe('~/work');
  });
  it("falls back to Notebook 7's rootUri", () => {
    expect(
      serverRootFrom(options({ rootUri: 'file:///tmp/my%20work' }), kernel)
    ).toBe('/tmp/my work');
    expect(
      serverRootFrom(options({ rootUri: 'file://host/srv' }), nowhere)
    ).toBe('/srv');
    expect(serverRootFrom(options({ rootUri: 'file:///' }), nowhere)).toBe('/');
  });
  it("falls back to the kernel's cwd when neither is set", () => {
    expect(serverRootFrom(options({}), kernel)).toBe('/srv/work');
    expect(serverRootFrom(options({}), nowhere)).toBe('');
  });
  it('maps a script under the root it found', () => {
    const root = serverRootFrom(options({}), kernel);
    expect(toServerPath('/srv/work/steps/train.py', root)).toBe(
      'steps/train.py'
    );
  });
});
