/**
 * The tilesets the server offers to this account (GET /tiles), read tolerantly: a list of
 * entries with at least a name; the URL defaults to /tiles/{name}/tileset.json.
 */
import type { ApiClient } from '../core/ApiClient';

export interface TilesetEntry {
  name: string;
  title: string;
  url: string;
  layer?: string;
  visibility?: string;
  [k: string]: unknown;
}

export async function listTilesets(api: ApiClient): Promise<TilesetEntry[]> {
  const body = await api.json<unknown>('/tiles');
  const raw: unknown[] = Array.isArray(body)
    ? body
    : ((body as Record<string, unknown>)?.tilesets as unknown[]) ?? ((body as Record<string, unknown>)?.items as unknown[]) ?? [];
  return raw
    .filter((e): e is Record<string, unknown> => !!e && typeof e === 'object' && typeof (e as { name?: unknown }).name === 'string')
    .map((e) => {
      const name = e.name as string;
      const link = Array.isArray(e.links)
        ? (e.links as Array<{ href?: string; rel?: string }>).find((l) => l.href?.endsWith('tileset.json'))?.href
        : undefined;
      return {
        ...e,
        name,
        title: String(e.title ?? name),
        url: String(e.url ?? e.href ?? link ?? `/tiles/${encodeURIComponent(name)}/tileset.json`),
      };
    });
}
