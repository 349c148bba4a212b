/**
 * The planner's calls to the twin: scenarios and their edits (`/api/scenarios`), and the
 * analyses it shows (`/api/analysis/...`), waiting for the job of a slow one. An analysis the
 * server does not offer answers `null` (404): the mode then says "not available".
 */
import { type ApiClient, ApiError } from './ApiClient';

export interface ScenarioSummary {
  slug: string;
  name: string;
  description: string;
  added: number;
  raised: number;
  removed: number;
  tileset: string;
}

export interface ScenarioEdits {
  slug: string;
  name: string;
  added: Array<{ id: number; name: string | null; height: number; levels: number | null; footprint_area: number }>;
  raised: Array<{ id: number; replaces: number; height: number }>;
  removed: number[];
  tileset: string;
}

export interface SunPosition {
  azimuth: number;
  apparent_elevation: number;
  elevation: number;
}

export class ScenarioApi {
  private names: Promise<Set<string>> | null = null;

  constructor(private readonly api: ApiClient) {}

  list(): Promise<ScenarioSummary[]> {
    return this.api.json<ScenarioSummary[]>('/api/scenarios');
  }

  get(slug: string): Promise<ScenarioEdits> {
    return this.api.json<ScenarioEdits>(`/api/scenarios/${encodeURIComponent(slug)}`);
  }

  create(slug: string, name: string): Promise<unknown> {
    return this.api.post('/api/scenarios', { slug, name: name || undefined });
  }

  async remove(slug: string): Promise<void> {
    await this.api.fetch(`/api/scenarios/${encodeURIComponent(slug)}`, { method: 'DELETE' });
  }

  /** Add a building drawn as a lon/lat ring with a height (m). */
  addFootprint(slug: string, ring: Array<[number, number]>, height: number): Promise<unknown> {
    const closed = [...ring, ring[0]];
    return this.api.post(`/api/scenarios/${encodeURIComponent(slug)}/buildings`, {
      footprint: { type: 'Polygon', coordinates: [closed] },
      height,
      name: 'Drawn building',
    });
  }

  raise(slug: string, buildingId: number, height: number): Promise<unknown> {
    return this.api.post(`/api/scenarios/${encodeURIComponent(slug)}/raise`, { building_id: buildingId, height });
  }

  removeBuilding(slug: string, buildingId: number): Promise<unknown> {
    return this.api.post(`/api/scenarios/${encodeURIComponent(slug)}/remove`, { building_id: buildingId });
  }

  sun(lon: number, lat: number, at: string): Promise<SunPosition> {
    const q = new URLSearchParams({ lon: String(lon), lat: String(lat), at });
    return this.api.json<SunPosition>(`/api/analysis/sun?${q}`);
  }

  /** The analyses this server offers (GET /api/analysis), asked once. */
  offered(): Promise<Set<string>> {
    this.names ??= this.api
      .json<Array<{ name: string }>>('/api/analysis')
      .then((list) => new Set(list.map((a) => a.name)))
      .catch((err) => {
        this.names = null;
        throw err;
      });
    return this.names;
  }

  /** Run an analysis; its result, or null when the server has no such analysis. */
  async analysis<T = Record<string, unknown>>(name: string, params: Record<string, unknown>): Promise<T | null> {
    if (!(await this.offered()).has(name)) return null;
    let doc: Record<string, unknown>;
    try {
      doc = await this.api.post<Record<string, unknown>>(`/api/analysis/${name}`, params);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && /no analysis/.test(err.message)) return null;
      throw err;
    }
    const job = doc.href ? String(doc.href) : null; // a slow analysis: poll its job
    for (let i = 0; job && doc.status !== 'done' && i < 600; i++) {
      if (doc.status === 'failed') throw new Error(String(doc.error ?? `the ${name} analysis failed`));
      await new Promise((r) => setTimeout(r, i < 10 ? 100 : 500));
      doc = await this.api.json<Record<string, unknown>>(job);
    }
    if (job && doc.status !== 'done') throw new Error(`the ${name} analysis did not finish in time`);
    return (job ? doc.result : doc) as T;
  }
}

/** An ISO instant with the browser's offset, for a day and minutes after its midnight. */
export function localInstant(day: string, minutes: number): string {
  const [y, m, d] = day.split('-').map(Number);
  const t = new Date(y, m - 1, d, Math.floor(minutes / 60), minutes % 60, 0);
  const off = -t.getTimezoneOffset();
  const pad = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, '0');
  const sign = off >= 0 ? '+' : '-';
  return `${y}-${pad(m)}-${pad(d)}T${pad(t.getHours())}:${pad(t.getMinutes())}:00${sign}${pad(off / 60)}:${pad(off % 60)}`;
}
