/**
 * JSON loaded from outside `src/`: the comm schema lives in the Python package
 * (amldebug_jupyter/notebook/comm_schema.json) so that both sides load one
 * file, and the settings schema in `schema/plugin.json`, where JupyterLab
 * finds it (package.json `jupyterlab.schemaDir`). They are declared here
 * instead of using `resolveJsonModule`: pulling a file from outside `src/`
 * into the TypeScript program would force `rootDir` up and move every output
 * under `lib/<...>/src/`. The bundler and jest load the JSON itself; `lib/`
 * sits at the same depth as `src/`, so the relative paths hold.
 */
declare module '*/comm_schema.json' {
  const schema: Record<string, unknown>;
  export default schema;
}

declare module '*/schema/plugin.json' {
  const schema: Record<string, unknown>;
  export default schema;
}
