import { LabIcon } from '@jupyterlab/ui-components';

/** A bug with a cloud: remote debugging. Inline so no loader is needed. */
const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <g class="jp-icon3" fill="#616161">
    <path d="M18 4.5a3.5 3.5 0 0 0-3.3 2.3A2.5 2.5 0 0 0 12.5 11h9a2 2 0 0 0 0-4h-.1A3.5 3.5 0 0 0 18 4.5z"/>
    <path d="M8 8a3 3 0 0 0-2.8 2H4v1.5h1V13H3v1.5h2v1.5H4v1.5h1.2A3 3 0 0 0 8 20a3 3 0 0 0 2.8-2.5H12V16h-1v-1.5h2V13h-2v-1.5h1V10h-1.2A3 3 0 0 0 8 8zm-.75 3h1.5v6h-1.5z"/>
  </g>
</svg>`;

export const amldebugIcon = new LabIcon({
  name: 'amldebug-jupyter:targets',
  svgstr: svg
});
