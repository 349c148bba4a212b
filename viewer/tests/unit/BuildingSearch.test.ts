import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../../src/core/ApiClient';
import { BuildingSearch, label } from '../../src/core/BuildingSearch';

const FEATURES = [
  { id: 1, type: 'Feature', geometry: null, properties: { name: 'Hotelli Torni', address: 'Yrjönkatu 26', usage: 'hotel', height: 69.6 } },
  { id: 2, type: 'Feature', geometry: null, properties: { name: 'Stockmann', address: 'Aleksanterinkatu 52', usage: 'retail' } },
  { id: 12, type: 'Feature', geometry: null, properties: { name: null, address: 'Yrjönkatu 12', usage: 'residential' } },
];

function server() {
  const calls: string[] = [];
  vi.stubGlobal('fetch', async (url: string) => {
    calls.push(url);
    const u = new URL(url);
    const byId = u.pathname.match(/\/items\/(\d+)$/);
    if (byId) {
      const f = FEATURES.find((x) => String(x.id) === byId[1]);
      return new Response(JSON.stringify(f ?? { detail: 'not found' }), { status: f ? 200 : 404 });
    }
    // the server's CQL2 filter, as the twin evaluates it: every word in some text field
    const filter = u.searchParams.get('filter') ?? '';
    const words = [...new Set([...filter.matchAll(/LIKE '%([^%']*)%'/g)].map((m) => m[1]))];
    const hits = FEATURES.filter((f) => {
      const text = ['name', 'address', 'source_id', 'usage']
        .map((k) => String((f.properties as Record<string, unknown>)[k] ?? ''))
        .join(' ')
        .toLowerCase();
      return words.every((w) => text.includes(w));
    });
    return new Response(JSON.stringify({ type: 'FeatureCollection', features: hits }), { status: 200 });
  });
  return calls;
}

afterEach(() => vi.unstubAllGlobals());

describe('BuildingSearch', () => {
  it('finds by id first, then by words in name, address or usage, filtered on the server', async () => {
    const calls = server();
    const s = new BuildingSearch(new ApiClient('http://twin.test/', () => 'twin_a_b'));
    expect((await s.search('12')).map((f) => f.id)).toEqual([12]); // by id, then "12" in an address
    expect((await s.search('yrjönkatu')).map((f) => f.id)).toEqual([1, 12]);
    expect((await s.search('torni hotel')).map((f) => f.id)).toEqual([1]);
    expect(await s.search('nowhere')).toEqual([]);
    // every search is one filtered page: the collection is never read whole
    const pages = calls.filter((c) => c.includes('/items?'));
    expect(pages.length).toBe(4);
    expect(pages.every((c) => new URL(c).searchParams.get('filter')?.includes('CASEI(name) LIKE'))).toBe(true);
  });

  it('answers null for an unknown id', async () => {
    server();
    const s = new BuildingSearch(new ApiClient('http://twin.test/', () => null));
    expect(await s.byId(999)).toBeNull();
  });

  it('labels results for people', () => {
    expect(label(FEATURES[0] as never)).toBe('#1 · Hotelli Torni · hotel · 70 m');
  });
});
