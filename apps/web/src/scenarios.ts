// The bundled scenarios: every file of the repository's scenarios/ folder, as text.

const files = import.meta.glob('../../../scenarios/*.{yaml,yml,json}', {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

export interface Bundled {
  /** The file name without extension (a scenario's `?scenario=` name). */
  name: string;
  file: string;
  text: string;
}

export const BUNDLED: readonly Bundled[] = Object.entries(files)
  .map(([path, text]) => {
    const file = path.slice(path.lastIndexOf('/') + 1);
    return { name: file.replace(/\.(ya?ml|json)$/, ''), file, text };
  })
  .sort((a, b) => a.name.localeCompare(b.name));

export const DEFAULT_SCENARIO = 'tour';
