import { describe, expect, it } from 'vitest';
import { BUILDING_STYLES, CategoryStyle, hex, NETWORK_STYLE, present, RampStyle, toCss } from '../../src/core/Styling';

describe('Styling', () => {
  it('converts colours', () => {
    expect(hex('#ff8000')).toEqual([1, 128 / 255, 0]);
    expect(toCss([1, 0.5, 0])).toBe('rgb(255, 128, 0)');
  });

  it('classes numbers along a ramp, no-data apart', () => {
    const s = new RampStyle('h', 'Height', 'height', [10, 20], [hex('#000000'), hex('#808080'), hex('#ffffff')], 'm');
    expect(s.color({ height: 5 })).toEqual([0, 0, 0]);
    expect(s.color({ height: 10 })).toEqual(hex('#808080'));
    expect(s.color({ height: 99 })).toEqual([1, 1, 1]);
    expect(s.color({ height: -1 })).toEqual(s.color({}));
    expect(s.legend().map((e) => e.label)).toEqual(['< 10 m', '10 – 20 m', '≥ 20 m', 'no data']);
  });

  it('colours categories and networks', () => {
    const s = new CategoryStyle('u', 'Usage', 'usage', { a: hex('#ff0000') });
    expect(s.color({ usage: 'a' })).toEqual([1, 0, 0]);
    expect(s.color({ usage: 'b' })).toEqual(s.color({}));
    expect(NETWORK_STYLE.color({ network: 'gas' })).not.toEqual(NETWORK_STYLE.color({ network: 'water' }));
    expect(BUILDING_STYLES.map((b) => b.id)).toEqual(['plain', 'height', 'usage', 'year']);
  });

  it('reads metadata no-data sentinels as missing', () => {
    expect(present(-1)).toBe(false);
    expect(present('')).toBe(false);
    expect(present(0)).toBe(true);
    expect(present('x')).toBe(true);
  });
});
