/**
 * The comm schema lives in the Python package (amldebug_jupyter/notebook/comm_schema.json)
 * so that both sides load one file. It is declared here instead of using
 * `resolveJsonModule`: pulling a file from outside `src/` into the TypeScript
 * program would force `rootDir` up to the repository root and move every
 * output under `lib/labextension/src/`. The bundler and jest load the JSON
 * itself; `lib/` sits at the same depth as `src/`, so the relative path holds.
 */
declare module '*/comm_schema.json' {
  const schema: Record<string, unknown>;
  export default schema;
}
