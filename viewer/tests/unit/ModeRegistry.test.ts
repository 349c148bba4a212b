import { describe, expect, it } from 'vitest';
import type { Mode } from '../../src/core/Mode';
import { ModeRegistry, parseHash } from '../../src/core/ModeRegistry';

const mode = (name: string, route: string): Mode<null> => ({
  name,
  title: name,
  route,
  enter: () => undefined,
  exit: () => undefined,
  dispose: () => undefined,
});

describe('ModeRegistry', () => {
  const r = new ModeRegistry<null>()
    .register(mode('explore', '/explore'))
    .register(mode('project', '/project/:slug?'))
    .register(mode('underground', '/underground'));

  it('matches routes and captures parameters', () => {
    expect(r.match('/explore')?.mode.name).toBe('explore');
    expect(r.match('/project/new-block')?.params).toEqual({ slug: 'new-block' });
    expect(r.match('/project')?.mode.name).toBe('project');
    expect(r.match('/project')?.params).toEqual({});
    expect(r.match('/project/a%20b')?.params.slug).toBe('a b');
    expect(r.match('/nowhere')).toBeNull();
    expect(r.match('/explore/extra')).toBeNull();
  });

  it('builds hrefs', () => {
    expect(r.href('project', { slug: 'x y' })).toBe('#/project/x%20y');
    expect(r.href('project')).toBe('#/project');
    expect(r.href('underground')).toBe('#/underground');
  });

  it('refuses duplicates and bad routes', () => {
    expect(() => r.register(mode('explore', '/e'))).toThrow(/already/);
    expect(() => new ModeRegistry<null>().register(mode('x', 'x'))).toThrow(/start with/);
  });

  it('parses hashes with queries', () => {
    expect(parseHash('#/project/x?floor=3')).toEqual({ path: '/project/x', query: { floor: '3' } });
    expect(parseHash('')).toEqual({ path: '/', query: {} });
  });
});
