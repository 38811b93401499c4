/**
 * Mapping between the kernel's absolute paths (targets' script/local_root)
 * and the Jupyter server's relative paths (what the document manager opens).
 *
 * Jupyter Server reports its root in PageConfig `serverRoot` with the home
 * directory shortened to `~` (e.g. `~/work`), so turning it back into an
 * absolute path needs the home directory: the kernel may send it (`home` in a
 * `targets` message); otherwise it is guessed from the absolute path being
 * mapped, from the usual home layouts.
 *
 * Notebook 7 (in our setup) reports no root at all; the kernel's working
 * directory (`cwd` in a `targets` message) and the notebook's server-relative
 * path then give it (`rootFromCwd`).
 */

/** What a kernel and its notebook tell about where the kernel's paths are. */
export interface IKernelPlace {
  /** The kernel's home directory, to expand a `~` in the server root. */
  home: string | null;
  /** The kernel's working directory. */
  cwd: string | null;
  /** The notebook's path relative to the server root (`sub/dir/nb.ipynb`). */
  notebookPath: string | null;
}

/** Collapse repeated and trailing slashes; keep `/` itself. */
export function normalizePath(path: string): string {
  const collapsed = path.replace(/\/+/g, '/');
  if (collapsed.length > 1 && collapsed.endsWith('/')) {
    return collapsed.slice(0, -1);
  }
  return collapsed;
}

/** True if `path` equals `root` or lies below it (both absolute). */
export function isUnder(path: string, root: string): boolean {
  const p = normalizePath(path);
  const r = normalizePath(root);
  if (r === '/') {
    return p.startsWith('/');
  }
  return p === r || p.startsWith(r + '/');
}

const HOME_PATTERN = /^(\/root|\/home\/[^/]+|\/Users\/[^/]+)(?=\/|$)/;

/** Guess the home directory that contains `absPath` (`/home/u`, `/root`, `/Users/u`). */
export function guessHome(absPath: string): string | null {
  const match = HOME_PATTERN.exec(normalizePath(absPath));
  return match ? match[1] : null;
}

/**
 * Expand the server root to an absolute path.
 *
 * Returns null when it starts with `~` and no home directory is known.
 */
export function expandServerRoot(
  serverRoot: string,
  home: string | null
): string | null {
  const root = serverRoot.trim();
  if (root === '~' || root.startsWith('~/')) {
    if (!home) {
      return null;
    }
    return normalizePath(normalizePath(home) + '/' + root.slice(1));
  }
  if (!root.startsWith('/')) {
    return null; // not absolute (or a Windows drive path): no safe mapping
  }
  return normalizePath(root);
}

/**
 * Absolute kernel path -> path relative to the server root, or null when the
 * file is outside the root (the document manager could not open it).
 */
export function toServerPath(
  absPath: string,
  serverRoot: string,
  home: string | null = null
): string | null {
  if (!absPath.startsWith('/')) {
    return null;
  }
  const root = expandServerRoot(serverRoot, home ?? guessHome(absPath));
  if (root === null || !isUnder(absPath, root)) {
    return null;
  }
  const path = normalizePath(absPath);
  if (root === '/') {
    return path.slice(1);
  }
  return path.slice(root.length + 1);
}

/**
 * Server-relative path -> absolute path, or null when the server root holds
 * an unexpandable `~`.
 */
export function toAbsolutePath(
  serverPath: string,
  serverRoot: string,
  home: string | null
): string | null {
  const root = expandServerRoot(serverRoot, home);
  if (root === null) {
    return null;
  }
  const rel = normalizePath(serverPath).replace(/^\//, '');
  if (rel === '' || rel === '/') {
    return root;
  }
  return root === '/' ? '/' + rel : root + '/' + rel;
}

/**
 * The server root from the kernel's working directory: JupyterLab and
 * Notebook 7 start a notebook's kernel in the notebook's directory, so the
 * root is that directory without the notebook's server-relative directory
 * (cwd `/srv/work/sub/dir` for `sub/dir/nb.ipynb`: `/srv/work`). Empty when
 * they do not fit together (the notebook's code changed directory).
 */
export function rootFromCwd(
  cwd: string | null,
  notebookPath: string | null
): string {
  if (!cwd?.startsWith('/') || !notebookPath) {
    return '';
  }
  const dir = normalizePath(notebookPath)
    .replace(/^\//, '')
    .split('/')
    .slice(0, -1)
    .join('/');
  const abs = normalizePath(cwd);
  if (dir === '') {
    return abs;
  }
  if (abs === '/' + dir) {
    return '/';
  }
  return abs.endsWith('/' + dir) ? abs.slice(0, -dir.length - 1) : '';
}

/**
 * The server's root as PageConfig tells it: JupyterLab sets `serverRoot`
 * (`~/work`); Notebook 7 may set only `rootUri` (`file:///home/me/work`), or
 * neither: then it comes from `place` (`rootFromCwd`).
 */
export function serverRootFrom(
  option: (name: string) => string,
  place: Pick<IKernelPlace, 'cwd' | 'notebookPath'>
): string {
  const serverRoot = option('serverRoot');
  if (serverRoot) {
    return serverRoot;
  }
  const rootUri = option('rootUri');
  if (rootUri.startsWith('file://')) {
    const path = rootUri.slice('file://'.length).replace(/^[^/]*/, '');
    try {
      return decodeURIComponent(path) || '/';
    } catch {
      return path || '/';
    }
  }
  return rootFromCwd(place.cwd, place.notebookPath);
}
