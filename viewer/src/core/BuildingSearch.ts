/**
 * Find buildings by id, name, address or source id through the Features API.
 *
 * The API has no text filter yet, so words are matched in the browser over the buildings
 * collection, read once per session in pages (fine for a district; a city needs a server-side
 * filter, see the viewer's notes).
 */
import { type ApiClient, ApiError } from './ApiClient';

export interface BuildingFeature {
  id: string | number;
  type: 'Feature';
  geometry: { type: string; coordinates: unknown } | null;
  properties: Record<string, unknown>;
}

const PAGE = 5000;
const TEXT_FIELDS = ['name', 'address', 'source_id', 'usage'];

export class BuildingSearch {
  private all: Promise<BuildingFeature[]> | null = null;

  constructor(private readonly api: ApiClient) {}

  async byId(id: string | number): Promise<BuildingFeature | null> {
    try {
      return await this.api.json<BuildingFeature>(`/collections/buildings/items/${encodeURIComponent(String(id))}`);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 400)) return null;
      throw err;
    }
  }

  private loadAll(): Promise<BuildingFeature[]> {
    this.all ??= (async () => {
      const out: BuildingFeature[] = [];
      for (let offset = 0; ; offset += PAGE) {
        const page = await this.api.json<{ features: BuildingFeature[] }>(
          `/collections/buildings/items?limit=${PAGE}&offset=${offset}`,
        );
        out.push(...page.features);
        if (page.features.length < PAGE) break;
      }
      return out;
    })().catch((err) => {
      this.all = null;
      throw err;
    });
    return this.all;
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
    const words = q.toLowerCase().split(/\s+/);
    for (const f of await this.loadAll()) {
      if (out.length >= limit) break;
      if (out.some((o) => String(o.id) === String(f.id))) continue;
      const text = TEXT_FIELDS.map((k) => String(f.properties[k] ?? '')).join(' ').toLowerCase();
      if (words.every((w) => text.includes(w))) out.push(f);
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
