/**
 * Which file editors get a breakpoint gutter routed through a notebook's
 * debugger session: those showing a target's script, or a Python file under a
 * target's local_root (the local side of the pathMappings the kernel sent to
 * the remote). Matching happens in server-relative space, and the absolute
 * path handed to the debugger is rebuilt from the kernel's own local_root /
 * script so it is exactly the path the remote maps.
 */
import type { ITarget } from './protocol';
import { normalizePath, toServerPath } from './paths';

function relativeTo(serverPath: string, rootServerPath: string): string | null {
  const path = normalizePath(serverPath).replace(/^\//, '');
  const root = normalizePath(rootServerPath).replace(/^\/$/, '');
  if (root === '') {
    return path;
  }
  if (path === root) {
    return '';
  }
  return path.startsWith(root + '/') ? path.slice(root.length + 1) : null;
}

/**
 * The absolute (kernel-side) path whose breakpoints an editor on `serverPath`
 * should carry, or null if the editor belongs to none of `targets`.
 */
export function breakpointPathFor(
  serverPath: string,
  targets: ReadonlyArray<ITarget>,
  serverRoot: string,
  home: string | null
): string | null {
  for (const target of targets) {
    if (target.script) {
      const scriptServer = toServerPath(target.script, serverRoot, home);
      if (
        scriptServer !== null &&
        relativeTo(serverPath, scriptServer) === ''
      ) {
        return normalizePath(target.script);
      }
    }
  }
  if (!serverPath.endsWith('.py')) {
    return null;
  }
  for (const target of targets) {
    if (!target.local_root) {
      continue;
    }
    const rootServer = toServerPath(target.local_root, serverRoot, home);
    if (rootServer === null) {
      continue;
    }
    const rel = relativeTo(serverPath, rootServer);
    if (rel) {
      const root = normalizePath(target.local_root);
      return root === '/' ? '/' + rel : root + '/' + rel;
    }
  }
  return null;
}
