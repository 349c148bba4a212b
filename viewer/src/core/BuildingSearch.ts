/**
 * Find buildings by id, name, address or source id through the Features API.
 *
 * The words go to the server as a CQL2 filter (OGC API - Features Part 3): every word must
 * appear, case-insensitively, in one of the text fields. Nothing is loaded into the browser
 * beyond the matches, so it works for a city as for a district.
 */
import { type ApiClient, ApiError } from './ApiClient';

export interface BuildingFeature {
  id: string | number;
  type: 'Feature';
  geometry: { type: string; coordinates: unknown } | null;
  properties: Record<string, unknown>;
}

const TEXT_FIELDS = ['name', 'address', 'source_id', 'usage'];

/** Words of a query: quotes and LIKE's wildcards separate words, so a literal needs no escape. */
export function searchWords(query: string): string[] {
  return query.toLowerCase().split(/[\s'"%_\\]+/).filter((w) => w.length > 0);
}

/** The CQL2 text filter: each word in some text field (CASEI: case-insensitive). */
export function wordsFilter(words: string[]): string {
  return words
    .map((w) => `(${TEXT_FIELDS.map((f) => `CASEI(${f}) LIKE '%${w}%'`).join(' OR ')})`)
    .join(' AND ');
}

export class BuildingSearch {
  constructor(private readonly api: ApiClient) {}

  async byId(id: string | number): Promise<BuildingFeature | null> {
    try {
      return await this.api.json<BuildingFeature>(`/collections/buildings/items/${encodeURIComponent(String(id))}`);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 400)) return null;
      throw err;
    }
  }

  /** Up to `limit` matches: an exact id first, then features whose text fields contain the words. */
  async search(query: string, limit = 12): Promise<BuildingFeature[]> {
    const q = query.trim();
    if (!q) return [];
    const out: BuildingFeature[] = [];
    if (/^\d+$/.test(q)) {
      const f = await this.byId(q);
      if (f) out.push(f);
    }
    const words = searchWords(q);
    if (!words.length) return out;
    const params = new URLSearchParams({ filter: wordsFilter(words), limit: String(limit), sortby: 'name' });
    const page = await this.api.json<{ features: BuildingFeature[] }>(`/collections/buildings/items?${params}`);
    for (const f of page.features) {
      if (out.length >= limit) break;
      if (!out.some((o) => String(o.id) === String(f.id))) out.push(f);
    }
    return out;
  }
}

export function label(f: BuildingFeature): string {
  const p = f.properties;
  const name = p.name || p.address || p.source_id || '';
  const bits = [`#${f.id}`, name, p.usage, p.height ? `${Math.round(Number(p.height))} m` : ''].filter(Boolean);
  return bits.join(' · ');
}
